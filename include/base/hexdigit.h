#ifndef SW_HEXDIGIT_H
#define SW_HEXDIGIT_H
/* hexdigit: one helper shared by the parsers of hex text (token keys, OAuth
 * state, JSON \u escapes). */

/* hex_digit returns the value of the hexadecimal digit c (either case), or
 * -1 if c is not one. */
static inline int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
