/* jobs.c: the worker's table of live jobs (see worker_int.h): job_new puts
 * a job on the worker's list, job_free takes it off and frees it (secrets
 * cleansed), job_open_token opens a job's sealed access token.
 *
 * Layer: the lowest but decide.c. It calls no other file of src/worker/, so
 * every file above may create, free and read jobs; job_free tells the loop
 * that capacity freed up through worker_kick, which is a signal to the loop
 * (worker_int.h), not a call into worker.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"
#include "base/log.h"

struct job *job_new(struct worker *w, struct app *a)
{
    struct job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    w->jobs++;
    j->w = w;
    j->next = w->job_list;
    if (j->next)
        j->next->prev = j;
    w->job_list = j;
    j->app = a;
    j->refresh = REFRESH_NONE;
    j->poll_s = -1;
    return j;
}

void job_free(struct job *j)
{
    struct worker *w = j->w;
    if (j->prev)
        j->prev->next = j->next;
    else
        w->job_list = j->next;
    if (j->next)
        j->next->prev = j->prev;
    free(j->user);
    secret_free(j->at_sealed);   /* sealed, but "plain.<token>" in plaintext mode */
    secret_free(j->rt_sealed);
    secret_free(j->access_token);
    free(j->state_text);
    free(j->backfill_seen);
    history_scan_free(j->scan);
    free(j);
    w->jobs--;
    worker_kick(w);   /* while stopping: leaves once nothing is in flight */
}

int job_open_token(struct job *j, const char *sealed)
{
    struct worker *w = j->w;
    char ad[ID_MAX + 8], err[128];
    secret_free(j->access_token);
    j->access_token = NULL;
    if (sealed == NULL || sealed[0] == '\0')
        return 0;
    /* Opened before from this very value: no decryption (token_cache.h). */
    const char *cached = token_cache_get(w->tokens, j->app->id, j->user, sealed, ev_now(w->loop));
    if (cached != NULL && (j->access_token = strdup(cached)) != NULL)
        return 0;
    size_t ul = strnlen(j->user, sizeof ad - 6);
    memcpy(ad, "user:", 5);   /* the owner bound into the seal (not snprintf: once per poll) */
    memcpy(ad + 5, j->user, ul);
    ad[5 + ul] = '\0';
    j->access_token = crypto_opener_open(w->opener, ad, sealed, err, sizeof err);
    if (j->access_token == NULL) {
        log_warn_f(JOB_LOG(j), "user %s: stored access token unreadable (%s); refreshing", j->user, err);
        return -1;
    }
    token_cache_put(w->tokens, j->app->id, j->user, sealed, j->access_token, ev_now(w->loop));
    return 0;
}
