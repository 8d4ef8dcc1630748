/* admin_html.c: the dashboard's page buffer (src/serve/admin_int.h): every
 * string from outside (ids, display names, track names, errors, Redis
 * fields) goes through admin_hb_esc or admin_hb_url, never raw. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"

/* grow makes room for n more bytes (and a NUL); 0, or -1 with oom set. */
static int grow(struct hbuf *b, size_t n)
{
    if (b->oom)
        return -1;
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (s == NULL) {
        b->oom = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

static void put(struct hbuf *b, const char *s, size_t n)
{
    if (grow(b, n) != 0)
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void admin_hb_printf(struct hbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || grow(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void admin_hb_esc(struct hbuf *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '&': put(b, "&amp;", 5); break;
        case '<': put(b, "&lt;", 4); break;
        case '>': put(b, "&gt;", 4); break;
        case '"': put(b, "&quot;", 6); break;
        case '\'': put(b, "&#39;", 5); break;
        default:
            /* Control bytes (escape sequences, NUL-like noise) show as '?'. */
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                put(b, "?", 1);
            else
                put(b, s, 1);
        }
    }
}

void admin_hb_url(struct hbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~", ch) != NULL) {
            put(b, s, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            put(b, e, 3);
        }
    }
}

void admin_hb_ms(struct hbuf *b, long long ms)
{
    const char *sign = ms < 0 ? "-" : "";
    long long v = ms < 0 ? -ms : ms;
    if (v < 1000)
        admin_hb_printf(b, "%s%lld ms", sign, v);
    else if (v < 120000)
        admin_hb_printf(b, "%s%lld s", sign, v / 1000);
    else if (v < 2 * 3600000LL)
        admin_hb_printf(b, "%s%lld min", sign, v / 60000);
    else if (v < 2 * 86400000LL)
        admin_hb_printf(b, "%s%lld h", sign, v / 3600000);
    else
        admin_hb_printf(b, "%s%lld d", sign, v / 86400000);
}
