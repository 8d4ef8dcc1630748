/* answer: reading the text of Spotify's answers (see
 * include/spotify/answer.h). */
#include "spotify/answer.h"

#include <string.h>

/* Spotify's text ends up in logs and last_error, so a body must not be able
 * to inject newlines or terminal escapes. */
void answer_sanitize(char *dst, size_t dstlen, const char *src, size_t len)
{
    size_t o = 0, i;
    int space = 0, truncated = 0;

    if (dst == NULL || dstlen == 0)
        return;
    for (i = 0; i < len && src[i] != '\0'; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = o > 0;
            continue;
        }
        if (o + space + 1 >= dstlen) {
            truncated = 1;
            break;
        }
        if (space)
            dst[o++] = ' ';
        space = 0;
        dst[o++] = (c >= 0x21 && c <= 0x7e) ? (char)c : '?';
    }
    if (truncated && dstlen >= 4) {
        if (o > dstlen - 4)
            o = dstlen - 4;
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

cJSON *answer_json(const char *body, size_t len)
{
    if (body == NULL || len == 0)
        return NULL;
    return cJSON_ParseWithLength(body, len);
}

/* Case-sensitive: Spotify's keys are lower case and a duplicate key's first
 * value wins. */
const char *answer_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
