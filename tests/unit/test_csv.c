/* CSV as pandas reads the source tables: quoting, BOM, CRLF, embedded newlines, bad rows. */
#include <stdlib.h>

#include "check.h"
#include "core/strbuf.h"
#include "io/csv.h"

static rv_csv *parse(const char *text) {
    rv_csv *c = NULL;
    rv_err err;
    if (rv_csv_parse("t.csv", text, strlen(text), &c, &err)) { fprintf(stderr, "%s\n", err.msg); return NULL; }
    return c;
}

int main(void) {
    /* BOM, CRLF, quoted comma, doubled quote, embedded newline (CRLF inside kept). */
    rv_csv *c = parse("\xEF\xBB\xBFid,text,n\r\n1,\"a, b\",2\r\n2,\"say \"\"hi\"\"\",3\r\n3,\"line1\nline2\",4\r\n");
    CHECK(c != NULL);
    if (c) {
        CHECK(c->ncols == 3);
        CHECK_STR(c->header[0], "id");
        CHECK(rv_csv_col(c, "n") == 2);
        CHECK(rv_csv_col(c, "missing") == -1);
        CHECK(c->nrows == 3);
        CHECK_STR(rv_csv_get(c, 0, 1), "a, b");
        CHECK_STR(rv_csv_get(c, 1, 1), "say \"hi\"");
        CHECK_STR(rv_csv_get(c, 2, 1), "line1\nline2");
        CHECK_STR(rv_csv_get(c, 2, 2), "4");
        CHECK(c->line[0] == 2 && c->line[1] == 3 && c->line[2] == 4);
        CHECK(c->nbad == 0);
        rv_csv_free(c);
    }
    /* Empty fields, blank lines skipped, no final newline, line numbers after a multi-line field. */
    c = parse("a,b\n,\n\n\"x\ny\",z\n5,6");
    CHECK(c != NULL);
    if (c) {
        CHECK(c->nrows == 3);
        CHECK_STR(rv_csv_get(c, 0, 0), "");
        CHECK_STR(rv_csv_get(c, 0, 1), "");
        CHECK(c->line[1] == 4);
        CHECK(c->line[2] == 6);
        CHECK_STR(rv_csv_get(c, 2, 1), "6");
        rv_csv_free(c);
    }
    /* A NUL byte in a field (issue L) would cut it short as a C string (a VinDr id truncated to 10
     * characters gave 2 extra cells): the row is reported with its line, kept out of rows; in the
     * header it is an error. */
    {
        static const char t[] = "id,v\nabc,1\nab\0cd,2\n\"q\0\",3\nz,4\n";
        rv_csv *n = NULL;
        rv_err e;
        CHECK(rv_csv_parse("n.csv", t, sizeof t - 1, &n, &e) == 0);
        if (n) {
            CHECK(n->nrows == 2 && n->nbad == 2);
            if (n->nbad == 2) CHECK(n->bad[0].line == 3 && strstr(n->bad[0].reason, "NUL") && n->bad[1].line == 4);
            if (n->nrows == 2) CHECK_STR(rv_csv_get(n, 1, 0), "z");
            rv_csv_free(n);
        }
        static const char h[] = "i\0d,v\n1,2\n";
        CHECK(rv_csv_parse("h.csv", h, sizeof h - 1, &n, &e) == -1 && strstr(e.msg, "h.csv:1:") && strstr(e.msg, "NUL"));
    }
    /* Short row, long row, invalid UTF-8: reported with their lines, kept out of rows. */
    c = parse("a,b,c\n1,2,3\n4,5\n6,7,8,9\n\xff\xfe,x,y\n10,11,12\n");
    CHECK(c != NULL);
    if (c) {
        CHECK(c->nrows == 2);
        CHECK(c->nbad == 3);
        if (c->nbad == 3) {
            CHECK(c->bad[0].line == 3 && strstr(c->bad[0].reason, "expected 3 fields") != NULL);
            CHECK(c->bad[1].line == 4 && strstr(c->bad[1].reason, "found 4") != NULL);
            CHECK(c->bad[2].line == 5 && strstr(c->bad[2].reason, "UTF-8") != NULL);
        }
        CHECK_STR(rv_csv_get(c, 1, 0), "10");
        rv_err err;
        int col;
        CHECK(rv_csv_require(c, "zz", &col, &err) == -1);
        CHECK(strstr(err.msg, "t.csv") && strstr(err.msg, "'zz'") && strstr(err.msg, "a, b, c"));
        rv_csv_free(c);
    }
    /* Unterminated quote: the record is bad, nothing after it is invented. */
    c = parse("a,b\n1,2\n3,\"open\n4,5\n");
    CHECK(c != NULL);
    if (c) {
        CHECK(c->nrows == 1);
        CHECK(c->nbad == 1 && c->bad[0].line == 3 && strstr(c->bad[0].reason, "unterminated"));
        rv_csv_free(c);
    }
    /* Empty file and missing file are errors naming the file. */
    rv_csv *none = NULL;
    rv_err err;
    CHECK(rv_csv_parse("empty.csv", "", 0, &none, &err) == -1 && strstr(err.msg, "empty.csv"));
    CHECK(rv_csv_read("/nonexistent/x.csv", &none, &err) == -1 && strstr(err.msg, "/nonexistent/x.csv"));

    /* Writing: minimal quoting round-trips through the parser. */
    rv_sb b;
    rv_sb_init(&b);
    rv_sb_puts(&b, "h1,h2\n");
    rv_csv_put_field(&b, "plain");
    rv_sb_putc(&b, ',');
    rv_csv_put_field(&b, "has \"q\", and\nnewline");
    rv_sb_putc(&b, '\n');
    CHECK(strstr(b.s, "plain,\"has \"\"q\"\", and\nnewline\"") != NULL);
    c = parse(b.s);
    if (c) { CHECK_STR(rv_csv_get(c, 0, 1), "has \"q\", and\nnewline"); rv_csv_free(c); }
    rv_sb_free(&b);
    return check_summary("test_csv");
}
