/* sim_main.c: spotify-sim entry point: options, start-up and a clean
 * shutdown on SIGTERM/SIGINT (exit 0). */
#include "sim_clock.h"
#include "sim_config.h"
#include "sim_faults.h"
#include "sim_http.h"
#include "sim_state.h"
#include "sim_util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("usage: spotify-sim [OPTIONS]\n"
          "\n"
          "A Spotify Web API + accounts simulator for tests (see tests/sim/README.md).\n"
          "Serves /v1/... (Web API), /authorize and /api/token (accounts) and /sim/...\n"
          "(control) on one port.\n"
          "\n"
          "Server options:\n"
          "  --port N          TCP port (default 8808); 0 picks a free port. The line\n"
          "                    `listening on ADDR:PORT` is printed on stdout when ready.\n"
          "  --bind ADDR       IPv4 address to bind (default 127.0.0.1)\n"
          "  --tls-cert FILE   PEM certificate: serve HTTPS (needs --tls-key)\n"
          "  --tls-key FILE    PEM private key for --tls-cert\n"
          "  --threads N       libmicrohttpd worker threads (default 1: one epoll thread)\n"
          "  --seed N          PRNG seed for tokens and fault fractions (default: random)\n"
          "  --clock-scale X   simulated-clock speed factor (default 1; 60 = a minute per\n"
          "                    second; 0 = frozen, moved only by POST /sim/clock)\n"
          "  --setup FILE      JSON {\"apps\":[...],\"users\":[...],\"developers\":[...],\n"
          "                    \"config\":{...}} applied at start (same shapes as POST /sim/apps,\n"
          "                    /sim/users, /sim/developers, /sim/config)\n"
          "  -h, --help        this help\n"
          "\n"
          "Behaviour settings (also POST /sim/config with the underscore names; BOOL is\n"
          "true/false/1/0, NAME one of the values listed, TEXT a string):\n",
          f);
    sim_config_usage(f);
}

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    sim_buf b;
    sim_buf_init(&b);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        sim_buf_add(&b, tmp, n);
    fclose(f);
    return sim_buf_steal(&b, NULL);
}

static int apply_setup(const char *path, char *err, size_t errlen)
{
    char *text = read_file(path, err, errlen);
    if (!text)
        return -1;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        snprintf(err, errlen, "%s: not a JSON object", path);
        return -1;
    }
    int rc = 0;
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "config")) &&
        sim_config_set_json(v, err, errlen) < 0)
        rc = -1;
    const cJSON *it;
    v = cJSON_GetObjectItemCaseSensitive(j, "users");
    cJSON_ArrayForEach(it, v)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *dn = cJSON_GetObjectItemCaseSensitive(it, "display_name");
        const cJSON *acc = cJSON_GetObjectItemCaseSensitive(it, "account_id");
        if (!cJSON_IsString(id))
            continue;
        sim_user *u = sim_user_get_or_create(id->valuestring);
        if (cJSON_IsString(dn)) {
            free(u->display_name);
            u->display_name = sim_xstrdup(dn->valuestring);
        }
        if (cJSON_IsString(acc)) {
            free(u->account_id);
            u->account_id = sim_xstrdup(acc->valuestring);
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "developers");
    cJSON_ArrayForEach(it, v)
    {
        if (rc == 0 && !sim_developer_set(it, sim_clock_now(), err, errlen))
            rc = -1;
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "apps");
    cJSON_ArrayForEach(it, v)
    {
        if (rc == 0 && !sim_app_set(it, err, errlen))
            rc = -1;
    }
    cJSON_Delete(j);
    return rc;
}

int main(int argc, char **argv)
{
    int port = 8808, threads = 1;   /* off serve's 8080: both run side by side */
    const char *bind_addr = "127.0.0.1", *cert_path = NULL, *key_path = NULL;
    const char *setup = NULL;
    double scale = 1.0;
    uint64_t seed = 0;
    char err[512];

    /* Block the stop signals in every thread; main waits for them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    sim_config_defaults();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        char name[64];
        int is_cfg = sim_config_is_option(a, name, sizeof name);
        int known = is_cfg || !strcmp(a, "--port") || !strcmp(a, "--bind") ||
                    !strcmp(a, "--tls-cert") || !strcmp(a, "--tls-key") ||
                    !strcmp(a, "--threads") || !strcmp(a, "--seed") ||
                    !strcmp(a, "--clock-scale") || !strcmp(a, "--setup");
        if (!known) {
            fprintf(stderr, "spotify-sim: unknown option %s (try --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "spotify-sim: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (is_cfg) {
            if (sim_config_set_str(name, v, err, sizeof err) < 0) {
                fprintf(stderr, "spotify-sim: %s\n", err);
                return 2;
            }
        } else if (!strcmp(a, "--port")) {
            port = atoi(v);
        } else if (!strcmp(a, "--bind")) {
            bind_addr = v;
        } else if (!strcmp(a, "--tls-cert")) {
            cert_path = v;
        } else if (!strcmp(a, "--tls-key")) {
            key_path = v;
        } else if (!strcmp(a, "--threads")) {
            threads = atoi(v);
        } else if (!strcmp(a, "--seed")) {
            seed = strtoull(v, NULL, 10);
        } else if (!strcmp(a, "--clock-scale")) {
            scale = atof(v);
        } else if (!strcmp(a, "--setup")) {
            setup = v;
        }
    }
    if (port < 0 || port > 65535 || threads < 1 || threads > 64 || scale < 0) {
        fprintf(stderr, "spotify-sim: bad --port, --threads or --clock-scale\n");
        return 2;
    }
    if (!cert_path != !key_path) {
        fprintf(stderr, "spotify-sim: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (!seed) {
        FILE *r = fopen("/dev/urandom", "rb");
        if (!r || fread(&seed, sizeof seed, 1, r) != 1)
            seed = (uint64_t)sim_mono_ns() ^ (uint64_t)getpid();
        if (r)
            fclose(r);
    }
    sim_rand_seed(seed);
    sim_clock_init(scale);
    sim_state_init();
    sim_faults_init();

    int rc = 0;
    char *cert = NULL, *key = NULL;
    if (setup && apply_setup(setup, err, sizeof err) < 0) {
        fprintf(stderr, "spotify-sim: --setup: %s\n", err);
        rc = 2;
        goto out;
    }
    if (cert_path) {
        cert = read_file(cert_path, err, sizeof err);
        key = cert ? read_file(key_path, err, sizeof err) : NULL;
        if (!cert || !key) {
            fprintf(stderr, "spotify-sim: %s\n", err);
            rc = 2;
            goto out;
        }
    }


    int bound;
    if (sim_http_start(bind_addr, port, cert, key, threads, &bound, err, sizeof err) < 0) {
        fprintf(stderr, "spotify-sim: %s\n", err);
        rc = 1;
        goto out;
    }
    printf("listening on %s:%d\n", bind_addr, bound);
    fflush(stdout);
    fprintf(stderr, "spotify-sim: listening on %s://%s:%d (threads %d, clock scale %g)\n",
            cert ? "https" : "http", bind_addr, bound, threads, scale);

    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    fprintf(stderr, "spotify-sim: signal %d, shutting down\n", sig);
    sim_http_stop();
out:
    free(cert);
    free(key);
    sim_faults_free();
    sim_state_free();
    return rc;
}
