#include "eval/tasks/reasoning.h"

#include <string.h>

static const char *last_find(const char *s, size_t n, const char *pat) {
    size_t l = strlen(pat);
    if (l > n) return NULL;
    for (size_t i = n - l + 1; i > 0; i--)
        if (memcmp(s + i - 1, pat, l) == 0) return s + i - 1;
    return NULL;
}

rv_span rv_reasoning_after_think(const char *text, size_t len, bool *found) {
    const char *t = last_find(text, len, "</think>");
    if (!t) { *found = false; rv_span e = {text + len, 0}; return e; }
    *found = true;
    const char *b = t + 8;
    return rv_py_strip(b, (size_t)(text + len - b));
}

rv_span rv_reasoning_answer(const char *text, size_t len, size_t max_cp, bool *found) {
    rv_span ans;
    bool got = false;
    /* findall scans left to right; matches do not overlap: a match ends at its "}" */
    const char *last_b = NULL;
    size_t last_bl = 0;
    size_t i = 0;
    while (i + 6 <= len) {
        if (memcmp(text + i, "\\boxed", 6) != 0) { i++; continue; }
        size_t j = i + 6, w;
        while (j < len && (w = rv_py_space_len(text + j, len - j)) > 0) j += w;
        if (j >= len || text[j] != '{') { i++; continue; }
        const char *close = memchr(text + j + 1, '}', len - j - 1);
        if (!close) { i++; continue; }
        last_b = text + j + 1;
        last_bl = (size_t)(close - last_b);
        i = (size_t)(close - text) + 1;
    }
    if (last_b && last_bl > 0) {
        ans.p = last_b; ans.len = last_bl; got = true;
    } else {
        bool f;
        ans = rv_reasoning_after_think(text, len, &f);
        if (f) got = true;
        else ans = rv_py_strip(text, len);
    }
    *found = got;
    if (max_cp) ans.len = rv_py_prefix_cp(ans.p, ans.len, max_cp);
    return ans;
}

rv_span rv_answer_extract(const char *text, size_t len, rv_answer_rule rule, bool *found) {
    switch (rule) {
    case RV_ANSWER_R1: return rv_reasoning_answer(text, len, RV_R1_MAX_CODE_POINTS, found);
    case RV_ANSWER_AFTER_THINK: return rv_reasoning_after_think(text, len, found);
    case RV_ANSWER_RAW: break;
    }
    *found = true;
    rv_span all = {text, len};
    return all;
}
