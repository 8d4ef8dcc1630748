/* keygen.c: the two commands that need no Redis: `spotwatch keygen FILE`
 * (a new token key) and `spotwatch connect-link USER` (a signed /connect
 * link, include/serve/connect_link.h). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "cli/cli.h"
#include "cli_int.h"
#include "base/crypto.h"
#include "serve/connect_link.h"
#include "serve/oauth.h"

int cli_keygen(const struct sw_config *c, struct cli_args *a)
{
    char err[256];
    (void)c;
    if (crypto_keygen(a->pos[0], err, sizeof err) != 0) {
        fprintf(stderr, "spotwatch: %s\n", err);
        return 1;
    }
    printf("new token key written to %s\n", a->pos[0]);
    return 0;
}

/* -------------------------------------------------------- connect-link --- */

int cli_connect_link(const struct sw_config *c, struct cli_args *a)
{
    struct cli_opt *o = a->o;
    const char **pos = a->pos;
    char err[512];
    long long ttl = 600;
    struct oauth_keys k;

    if (o[2].value && cli_parse_ll("--ttl", o[2].value, 1, CONNECT_LINK_MAX_AHEAD_S, &ttl) != 0)
        return 2;
    if (cli_check_id("user", pos[0]) != 0 || (o[0].value && cli_check_id("app", o[0].value) != 0))
        return 2;
    /* serve would refuse it: say so here, where the developer is looking. */
    if (o[1].value && !oauth_return_to_ok(o[1].value, c->connect_allowed_origins, c->public_url)) {
        fprintf(stderr, "spotwatch: --return-to: not on connect-allowed-origins (unset: the origin "
                        "of public-url), so serve would refuse it\n");
        return 2;
    }
    if (c->connect_key_file[0] == '\0') {
        fprintf(stderr, "spotwatch: connect-link needs connect-key-file (the key serve checks links with)\n");
        return 2;
    }
    if (oauth_keys_load_file(&k, c->connect_key_file, "connect key file", err, sizeof err) != 0) {
        fprintf(stderr, "spotwatch: %s\n", err);
        return 1;
    }
    char *url = connect_link_url(&k, c->public_url, pos[0], o[0].value, o[1].value,
                             (long long)time(NULL) + ttl);
    oauth_keys_clear(&k);
    if (url == NULL) {
        fprintf(stderr, "spotwatch: out of memory\n");
        return 1;
    }
    printf("%s\n", url);
    free(url);
    return 0;
}
