#ifndef SW_IPLIMIT_H
#define SW_IPLIMIT_H
/* iplimit: per-client-address token buckets for serve's /connect and
 * /callback, in a table of fixed size (IPLIMIT_SLOTS entries of 40 bytes,
 * allocated once): a flood from many addresses costs no more memory than one
 * from a single address. Pure (the caller passes the clock and holds the lock
 * around every call); no I/O.
 *
 * An address is an IPv4 address, or the /64 prefix of an IPv6 one (a single
 * host usually holds a whole /64, so counting each of its addresses apart
 * would count nothing); an IPv4-mapped IPv6 address is its IPv4 address.
 *
 * The table is IPLIMIT_WAYS-way set-associative: an address hashes (SipHash-
 * like keyed mixing with a random seed, so nobody can aim at one set) to a set;
 * when the set is full the entry with the most tokens goes, which, if its
 * bucket is full, forgets nothing at all. An address that loses its entry
 * comes back with a full bucket: a limiter of this size slows an address down,
 * it cannot stop someone holding thousands of them. */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define IPLIMIT_SLOTS 1024
#define IPLIMIT_WAYS 8

/* iplimit_entry: one address's bucket. */
struct iplimit_entry {
    unsigned char addr[16];   /* IPv4 in the first 4 bytes, or an IPv6 /64 in the first 8 */
    unsigned char family;     /* 0 = free slot, 4, 6 */
    double tokens;            /* requests it may make now, <= burst */
    long long at_ms;          /* when tokens was computed (caller's clock) */
};

/* iplimit: the table and its rule. */
struct iplimit {
    struct iplimit_entry e[IPLIMIT_SLOTS];
    double per_ms;            /* tokens added per ms (rate per minute / 60000) */
    double burst;             /* bucket size */
    uint64_t seed[2];         /* keys the set hash */
};

/* iplimit_init sets the rule: per_minute requests a minute sustained (0 = no
 * limit: iplimit_take always allows), bursts of up to burst (>= 1). seed
 * keys the hash (random in serve, fixed in tests). */
void iplimit_init(struct iplimit *l, long per_minute, long burst, uint64_t seed0, uint64_t seed1);

/* iplimit_take charges one request to the address sa (AF_INET or AF_INET6;
 * anything else is never limited). Returns 0 when allowed, else the ms until
 * the address may try again (>= 1). */
long long iplimit_take(struct iplimit *l, const struct sockaddr *sa, long long now_ms);

#endif
