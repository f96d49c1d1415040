/* JSON in Python's formats: expected strings are what CPython 3 prints for the same values
 * (repr(float), json.dumps(..., indent=4), json.dumps(...) compact), written out by hand. */
#include <stdlib.h>

#include "check.h"
#include "io/json.h"

static void repr_is(double v, const char *want) {
    char buf[32];
    rv_pyfloat_repr(v, buf);
    CHECK_STR(buf, want);
}

static char *dump(const cJSON *n, int indent, bool ea) {
    rv_sb b;
    rv_sb_init(&b);
    rv_pyjson_dump(&b, n, indent, ea);
    return rv_sb_take(&b);
}

int main(void) {
    repr_is(0.1, "0.1");
    repr_is(1.0, "1.0");
    repr_is(-0.0, "-0.0");
    repr_is(1e-05, "1e-05");
    repr_is(2.5e-05, "2.5e-05");
    repr_is(0.0001, "0.0001");
    repr_is(1e16, "1e+16");
    repr_is(1.5e16, "1.5e+16");
    repr_is(9999999999999998.0, "9999999999999998.0");
    repr_is(123456789012345.6, "123456789012345.6");
    repr_is(0.30000000000000004, "0.30000000000000004");
    repr_is(5e-324, "5e-324");
    repr_is(1e22, "1e+22");
    repr_is(1.7976931348623157e308, "1.7976931348623157e+308");
    repr_is(0.12345678901234568, "0.12345678901234568");

    /* json.dumps([1, 1.0, "é", "😀", {"a": []}, "q\"\\\n\x01\x7f"], indent=4) */
    cJSON *arr = cJSON_CreateArray();
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(1));
    cJSON_AddItemToArray(arr, rv_json_float(1.0));
    cJSON_AddItemToArray(arr, cJSON_CreateString("\xC3\xA9"));
    cJSON_AddItemToArray(arr, cJSON_CreateString("\xF0\x9F\x98\x80"));
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddItemToObject(obj, "a", cJSON_CreateArray());
    cJSON_AddItemToArray(arr, obj);
    cJSON_AddItemToArray(arr, cJSON_CreateString("q\"\\\n\x01\x7f"));
    char *s = dump(arr, 4, true);
    CHECK_STR(s, "[\n    1,\n    1.0,\n    \"\\u00e9\",\n    \"\\ud83d\\ude00\",\n    {\n        \"a\": []\n    },\n"
                 "    \"q\\\"\\\\\\n\\u0001\\u007f\"\n]");
    free(s);
    /* ensure_ascii=False keeps UTF-8 and DEL; control characters are still escaped. */
    s = dump(arr, 4, false);
    CHECK(strstr(s, "\"\xC3\xA9\"") != NULL);
    CHECK(strstr(s, "\\u0001\x7f\"") != NULL);
    free(s);
    cJSON_Delete(arr);

    /* json.dumps({"a": [1, 2], "b": {}, "c": 0.5}) */
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "a");
    cJSON_AddItemToArray(a, cJSON_CreateNumber(1));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(2));
    cJSON_AddObjectToObject(o, "b");
    cJSON_AddNumberToObject(o, "c", 0.5);
    s = dump(o, -1, true);
    CHECK_STR(s, "{\"a\": [1, 2], \"b\": {}, \"c\": 0.5}");
    free(s);
    cJSON_Delete(o);

    /* Parsing keeps literal kinds: [0, 1.0, -0, 1e2, 0.25] -> ints print as ints, floats as repr. */
    rv_err err;
    const char *txt = "{\"k\": \"1.5 in a string\", \"v\": [0, 1.0, -0, 1e2, 0.25]}";
    cJSON *p = rv_json_parse("t.json", txt, strlen(txt), &err);
    CHECK(p != NULL);
    if (p) {
        cJSON *v = cJSON_GetObjectItem(p, "v");
        CHECK(rv_json_is_int_literal(cJSON_GetArrayItem(v, 0)));
        CHECK(!rv_json_is_int_literal(cJSON_GetArrayItem(v, 1)));
        CHECK(rv_json_is_int_literal(cJSON_GetArrayItem(v, 2)));
        CHECK(!rv_json_is_int_literal(cJSON_GetArrayItem(v, 3)));
        s = dump(p, -1, true);
        /* Python: json.dumps(json.loads(txt)) */
        CHECK_STR(s, "{\"k\": \"1.5 in a string\", \"v\": [0, 1.0, 0, 100.0, 0.25]}");
        free(s);
        cJSON_Delete(p);
    }
    /* Errors name file, line and column. */
    const char *bad = "{\n  \"a\": 1,\n  \"b\": ]\n}";
    CHECK(rv_json_parse("bad.json", bad, strlen(bad), &err) == NULL);
    CHECK(strstr(err.msg, "bad.json:3:") != NULL);
    const char *trunc = "[{\"a\": 1}, {\"b\": ";
    CHECK(rv_json_parse("trunc.json", trunc, strlen(trunc), &err) == NULL && strstr(err.msg, "trunc.json:1:"));
    /* One document per file (issue L): text after the value is an error naming where it starts;
     * trailing JSON whitespace is fine. */
    const char *garbage = "{\"run\": {\"dir\": \"r\"}} garbage";
    CHECK(rv_json_parse("g.json", garbage, strlen(garbage), &err) == NULL &&
          strstr(err.msg, "g.json:1:23: text after the JSON value"));
    const char *two = "[1]\n[2]\n";
    CHECK(rv_json_parse("two.json", two, strlen(two), &err) == NULL && strstr(err.msg, "two.json:2:1:"));
    const char *ws = "{\"a\": 1}\n \t\r\n";
    cJSON *w = rv_json_parse("ws.json", ws, strlen(ws), &err);
    CHECK(w != NULL);
    cJSON_Delete(w);
    /* Duplicate keys: the last wins, as in Python's json (json.loads('{"a": 1, "a": 2}') == {'a': 2}),
     * in nested objects too; the other keys keep their order. */
    const char *dup = "{\"a\": 1, \"b\": {\"x\": 1, \"x\": [3]}, \"a\": 2, \"c\": 0}";
    cJSON *d = rv_json_parse("dup.json", dup, strlen(dup), &err);
    CHECK(d && cJSON_GetArraySize(d) == 3);
    CHECK(d && cJSON_GetObjectItemCaseSensitive(d, "a")->valuedouble == 2);
    CHECK(d && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "b"), "x")));
    CHECK(d && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "b")) == 1);
    CHECK(d && !strcmp(d->child->string, "b") && !strcmp(d->child->next->string, "a"));
    cJSON_Delete(d);
    /* \u0000 would cut a string short (an answer, an image path): refused, naming where; an escaped
     * backslash before "u0000" is just text */
    const char *nul = "{\"a\": \"x\\u0000y\"}";
    CHECK(rv_json_parse("nul.json", nul, strlen(nul), &err) == NULL && strstr(err.msg, "nul.json:1:9:") &&
          strstr(err.msg, "NUL"));
    const char *esc = "{\"a\": \"x\\\\u0000y\"}";
    cJSON *e = rv_json_parse("esc.json", esc, strlen(esc), &err);
    CHECK(e && !strcmp(cJSON_GetObjectItemCaseSensitive(e, "a")->valuestring, "x\\u0000y"));
    cJSON_Delete(e);
    /* a raw control character inside a string (Python's json refuses it; cJSON did not) */
    const char *ctl = "{\"a\": \"x\ty\"}";
    CHECK(rv_json_parse("ctl.json", ctl, strlen(ctl), &err) == NULL && strstr(err.msg, "ctl.json:1:9:") &&
          strstr(err.msg, "control character"));
    const char *ok_ws = "{\n\t\"a\": \"x\\ty\"\n}";
    cJSON *okw = rv_json_parse("okws.json", ok_ws, strlen(ok_ws), &err);
    CHECK(okw && !strcmp(cJSON_GetObjectItemCaseSensitive(okw, "a")->valuestring, "x\ty"));
    cJSON_Delete(okw);
    const char *badutf = "[\"\xff\"]";
    CHECK(rv_json_parse("u.json", badutf, strlen(badutf), &err) == NULL && strstr(err.msg, "UTF-8"));
    /* JSON Lines: blank lines skipped, errors name the line. */
    const char *jl = "{\"a\": 1}\n\n{\"a\": 2}\n";
    cJSON *lines = rv_json_parse_lines("l.jsonl", jl, strlen(jl), &err);
    CHECK(lines && cJSON_GetArraySize(lines) == 2);
    cJSON_Delete(lines);
    const char *jlbad = "{\"a\": 1}\n{oops}\n";
    CHECK(rv_json_parse_lines("l.jsonl", jlbad, strlen(jlbad), &err) == NULL && strstr(err.msg, "l.jsonl:2"));
    /* Typed getters. */
    cJSON *q = cJSON_Parse("{\"s\": 3}");
    const char *sv;
    double dv;
    CHECK(rv_json_get_str(q, "s", "rec 4", &sv, &err) == -1 && strstr(err.msg, "rec 4") && strstr(err.msg, "'s'"));
    CHECK(rv_json_get_num(q, "s", "rec 4", &dv, &err) == 0 && dv == 3);
    CHECK(rv_json_get_num(q, "t", "rec 4", &dv, &err) == -1 && strstr(err.msg, "missing"));
    cJSON_Delete(q);
    return check_summary("test_json");
}
