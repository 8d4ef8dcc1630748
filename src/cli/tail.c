/* tail.c: `spotwatch tail [USER...]`: events as they are published, one
 * JSON a line, until the link is lost. */
#include <stdio.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "cli/cli.h"
#include "cli_int.h"

int cli_tail(const struct sw_config *c, int argc, char **argv)
{
    char ch[KEY_MAX];
    redisContext *r = cli_connect(c);
    if (r == NULL)
        return 1;
    if (argc <= 1) {
        snprintf(ch, sizeof ch, "%splayback:*", c->key_prefix);
        redisAppendCommand(r, "PSUBSCRIBE %s", ch);
    } else {
        for (int i = 1; i < argc; i++) {
            keys_channel(ch, sizeof ch, c->key_prefix, argv[i]);
            redisAppendCommand(r, "SUBSCRIBE %s", ch);
        }
    }
    struct timeval forever = {0, 0};
    redisSetTimeout(r, forever);
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        redisReply *m = NULL;
        if (redisGetReply(r, (void **)&m) != REDIS_OK) {
            fprintf(stderr, "spotwatch: tail: Redis link lost: %s\n", r->errstr);
            redisFree(r);
            return 1;
        }
        if (m && m->type == REDIS_REPLY_ARRAY && m->elements >= 3) {
            redisReply *kind = m->element[0], *payload = m->element[m->elements - 1];
            /* Anyone who may PUBLISH can send text that is not ours:
             * escaped, it cannot drive the terminal nor fake a line (an
             * event, JSON without raw control characters, is unchanged
             * unless it holds DEL or a C1 control). */
            if ((strcmp(kind->str, "message") == 0 || strcmp(kind->str, "pmessage") == 0) &&
                payload->type == REDIS_REPLY_STRING) {
                cli_fputs_esc(payload->str, stdout);
                putchar('\n');
            }
        }
        if (m)
            freeReplyObject(m);
    }
}

