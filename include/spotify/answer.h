#ifndef SW_ANSWER_H
#define SW_ANSWER_H
/* answer: reading the text of Spotify's answers, shared by the token-endpoint
 * parser (src/spotify/token.c) and the Web API classifier
 * (src/spotify/webapi.c): the JSON body, its string members, and Spotify's
 * words made safe to log. Pure; no I/O. */
#include <stddef.h>
#include <cjson/cJSON.h>

/* answer_json parses len bytes of body; NULL when there is no body or it is
 * not JSON. The caller cJSON_Deletes the tree. */
cJSON *answer_json(const char *body, size_t len);

/* answer_str returns obj[key] if it is a string, else NULL (obj may be NULL
 * or not an object). */
const char *answer_str(const cJSON *obj, const char *key);

/* answer_sanitize copies up to len bytes of src (stopping at a NUL) into dst
 * (size dstlen) as printable ASCII: whitespace runs become one space, other
 * bytes '?', ends trimmed, and "..." marks truncation. */
void answer_sanitize(char *dst, size_t dstlen, const char *src, size_t len);

#endif
