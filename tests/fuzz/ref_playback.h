#ifndef SW_REF_PLAYBACK_H
#define SW_REF_PLAYBACK_H
/* ref_playback: the cJSON-based parsers of earlier versions, for tests only
 * (tests/fuzz/ref_playback.c). Each has the contract its product namesake
 * had then (include/spotify/playback.h, include/spotify/recently_played.h): the product's must give
 * the same results, up to the deliberate differences listed in
 * include/spotify/json_scan.h and the encoding of 1e15 in include/spotify/playback.h. */
#include <stddef.h>
#include <cjson/cJSON.h>

#include "spotify/recently_played.h"
#include "spotify/playback.h"

int ref_pb_parse(const char *body, size_t len, struct pb_state *out, char *err, size_t errlen);
int ref_pb_parse_object(const char *body, size_t len, cJSON **root, char *err, size_t errlen);
char *ref_pb_state_encode(const struct pb_state *s);
int ref_pb_state_decode(const char *text, struct pb_state *out);
cJSON *ref_pb_item_track(const cJSON *item, char *err, size_t errlen);
int ref_history_parse(const char *body, size_t len, long long after_ms, struct history_page *out,
                      char *err, size_t errlen);

#endif
