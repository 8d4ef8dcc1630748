/* connect_link.c: signed /connect links (see include/serve/connect_link.h). */
#include "serve/connect_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/codec.h"
#include "redis/key_schema.h"

#define EXP_DIGITS_MAX 12          /* Unix seconds up to the year 33658 */

static const char *const reasons[CONNECT_LINK_VERDICTS] = {
    "ok", "missing", "malformed", "bad_signature", "expired", "too_far_ahead"};

const char *connect_link_reason(enum connect_link_verdict v)
{
    return (unsigned)v < CONNECT_LINK_VERDICTS ? reasons[v] : "malformed";
}

/* link_mac computes HMAC-SHA256(key, "connect\n" user "\n" app "\n"
 * return_to "\n" exp ["\nshow_dialog"]) into mac. 0, or -1 when out of
 * memory. */
static int link_mac(const unsigned char *key, const char *user, const char *app,
                    const char *return_to, const char *exp, int dialog, unsigned char mac[32])
{
    char *msg = NULL;
    unsigned maclen = 32;
    int n = asprintf(&msg, "connect\n%s\n%s\n%s\n%s%s", user, app ? app : "",
                     return_to ? return_to : "", exp, dialog ? "\nshow_dialog" : "");
    if (n < 0)
        return -1;
    int ok = HMAC(EVP_sha256(), key, 32, (const unsigned char *)msg, (size_t)n, mac, &maclen) != NULL;
    free(msg);
    return ok ? 0 : -1;
}

int connect_link_sign(const struct oauth_keys *k, const char *user, const char *app,
                  const char *return_to, long long exp_s, char out[CONNECT_LINK_SIG_B64])
{
    return connect_link_sign_dialog(k, user, app, return_to, 0, exp_s, out);
}

int connect_link_sign_dialog(const struct oauth_keys *k, const char *user, const char *app,
                             const char *return_to, int dialog, long long exp_s,
                             char out[CONNECT_LINK_SIG_B64])
{
    unsigned char mac[32];
    char exp[24];

    if (k == NULL || k->n == 0 || exp_s < 0)
        return -1;
    snprintf(exp, sizeof exp, "%lld", exp_s);
    if (link_mac(k->key[k->n - 1], user, app, return_to, exp, dialog, mac) != 0)
        return -1;
    oauth_b64url(mac, sizeof mac, out);
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}

/* parse_exp reads canonical decimal Unix seconds: digits only, no leading
 * zero, so one exp has one spelling (the signed text is the parsed value). */
static int parse_exp(const char *s, long long *out)
{
    size_t n = strlen(s);
    long long v = 0;

    if (n == 0 || n > EXP_DIGITS_MAX || (s[0] == '0' && n > 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

enum connect_link_verdict connect_link_verify(const struct oauth_keys *k, const char *user,
                                      const char *app, const char *return_to, const char *exp,
                                      const char *sig, long long now_s)
{
    return connect_link_verify_dialog(k, user, app, return_to, 0, exp, sig, now_s);
}

enum connect_link_verdict connect_link_verify_dialog(const struct oauth_keys *k, const char *user,
                                                     const char *app, const char *return_to,
                                                     int dialog, const char *exp, const char *sig,
                                                     long long now_s)
{
    unsigned char have[40], want[32];
    char sigbuf[CONNECT_LINK_SIG_B64 + 1];
    long long exp_s;

    if (exp == NULL || sig == NULL || *exp == '\0' || *sig == '\0')
        return CONNECT_LINK_MISSING;
    size_t sl = strlen(sig);
    if (sl == 44 && sig[43] == '=')
        sl = 43;   /* a padded base64url from a careless encoder */
    if (sl != 43 || parse_exp(exp, &exp_s) != 0 || user == NULL || !keys_valid_id(user) ||
        (app != NULL && *app != '\0' && !keys_valid_id(app)))
        return CONNECT_LINK_MALFORMED;
    memcpy(sigbuf, sig, sl);
    sigbuf[sl] = '\0';
    if (oauth_b64url_decode(sigbuf, have, sizeof have) != 32)
        return CONNECT_LINK_MALFORMED;

    /* Every key, whatever the outcome of the first: the time taken says
     * nothing about which key or how many bytes matched. */
    int ok = 0;
    for (int i = 0; k != NULL && i < k->n; i++) {
        if (link_mac(k->key[i], user, app, return_to, exp, dialog, want) != 0)
            break;
        ok |= CRYPTO_memcmp(want, have, 32) == 0;
    }
    OPENSSL_cleanse(want, sizeof want);
    if (!ok)
        return CONNECT_LINK_BAD_SIGNATURE;
    if (exp_s < now_s)
        return CONNECT_LINK_EXPIRED;
    if (exp_s > now_s + CONNECT_LINK_MAX_AHEAD_S + CONNECT_LINK_SKEW_S)
        return CONNECT_LINK_TOO_FAR_AHEAD;
    return CONNECT_LINK_OK;
}

char *connect_link_url(const struct oauth_keys *k, const char *public_url, const char *user,
                   const char *app, const char *return_to, long long exp_s)
{
    char sig[CONNECT_LINK_SIG_B64];
    char *e_user = NULL, *e_app = NULL, *e_rt = NULL, *url = NULL;
    size_t n = strlen(public_url);

    if (app != NULL && *app == '\0')
        app = NULL;
    if (return_to != NULL && *return_to == '\0')
        return_to = NULL;
    if (!keys_valid_id(user) || (app && !keys_valid_id(app)) ||
        connect_link_sign(k, user, app, return_to, exp_s, sig) != 0)
        return NULL;
    while (n > 0 && public_url[n - 1] == '/')
        n--;
    e_user = codec_pct_encode(user);
    e_app = codec_pct_encode(app ? app : "");
    e_rt = codec_pct_encode(return_to ? return_to : "");
    if (e_user && e_app && e_rt &&
        asprintf(&url, "%.*s/connect?user=%s%s%s%s%s&exp=%lld&sig=%s", (int)n, public_url, e_user,
                 app ? "&app=" : "", e_app, return_to ? "&return_to=" : "", e_rt, exp_s, sig) < 0)
        url = NULL;
    free(e_user);
    free(e_app);
    free(e_rt);
    return url;
}
