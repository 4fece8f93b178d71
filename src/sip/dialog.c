/*
 * dialog.c - the dialog table (chained hash on Call-ID + local tag + remote tag, doubled when
 * it holds more than one dialog per bucket) and the dialog state of RFC 3261 section 12 (from
 * memory: RFC 3261 is not in ../shared/rfc/): route set, remote target, CSeq both ways, and
 * building requests inside a dialog through msg.c.
 */
#include "sip/dialog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/msg.h"

struct sip_dialog_table {
    struct sip_chain chain;
};

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;
}

static uint64_t key_hash(const char *call_id, const char *local_tag, const char *remote_tag)
{
    uint64_t h = fnv(fnv(fnv(0xcbf29ce484222325ull, call_id), local_tag), remote_tag);
    /* FNV-1a's low bits follow the last bytes closely (ids differing only in their final
     * digits crowd a few buckets); a final mix spreads them over the bits the mask keeps. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

struct sip_dialog_table *sip_dialog_table_create(void)
{
    struct sip_dialog_table *tab = calloc(1, sizeof *tab);
    if (!tab)
        return NULL;
    /* 64 buckets, doubled as it fills: an idle agent costs little */
    if (sip_chain_init(&tab->chain, 64) != 0) {
        free(tab);
        return NULL;
    }
    return tab;
}

static void free_dialog(struct sip_dialog *d)
{
    free(d->call_id);
    free(d->local_tag);
    free(d->remote_tag);
    free(d->local_uri);
    free(d->remote_uri);
    free(d->remote_target);
    for (int i = 0; i < d->route_count; i++)
        free(d->routes[i]);
    free(d);
}

void sip_dialog_table_destroy(struct sip_dialog_table *tab)
{
    if (!tab)
        return;
    for (size_t i = 0; i < tab->chain.nbuckets; i++)
        while (tab->chain.buckets[i]) {
            struct sip_chain_link *l = tab->chain.buckets[i];
            tab->chain.buckets[i] = l->next;
            free_dialog(SIP_CHAIN_ENTRY(l, struct sip_dialog, _link));
        }
    sip_chain_free(&tab->chain);
    free(tab);
}

size_t sip_dialog_count(const struct sip_dialog_table *tab)
{
    return tab->chain.count;
}

size_t sip_dialog_buckets(const struct sip_dialog_table *tab)
{
    return tab->chain.nbuckets;
}

size_t sip_dialog_longest_chain(const struct sip_dialog_table *tab)
{
    return sip_chain_longest(&tab->chain);
}

struct sip_dialog *sip_dialog_find(struct sip_dialog_table *tab, const char *call_id,
                                   const char *local_tag, const char *remote_tag)
{
    if (!call_id || !local_tag || !remote_tag)
        return NULL;
    uint64_t h = key_hash(call_id, local_tag, remote_tag);
    for (struct sip_chain_link *l = *sip_chain_slot(&tab->chain, h); l; l = l->next) {
        struct sip_dialog *d = SIP_CHAIN_ENTRY(l, struct sip_dialog, _link);
        if (l->hash == h && strcmp(d->call_id, call_id) == 0 &&
            strcmp(d->local_tag, local_tag) == 0 && strcmp(d->remote_tag, remote_tag) == 0)
            return d;
    }
    return NULL;
}

static const char *call_id_of(const osip_message_t *m)
{
    return m->call_id ? osip_call_id_get_number(m->call_id) : NULL;
}

/* Call-ID "number@host" as one string (libosip2 splits it at '@'). */
static char *call_id_text(const osip_message_t *m)
{
    char *s = NULL;
    if (!m->call_id || osip_call_id_to_str(m->call_id, &s) != 0 || !s)
        return NULL;
    char *r = strdup(s);
    osip_free(s);
    return r;
}

static struct sip_dialog *find_by(struct sip_dialog_table *tab, const osip_message_t *m,
                                  const char *local_tag, const char *remote_tag)
{
    if (!call_id_of(m))
        return NULL;
    char *cid = call_id_text(m);
    struct sip_dialog *d = cid ? sip_dialog_find(tab, cid, local_tag, remote_tag) : NULL;
    free(cid);
    return d;
}

struct sip_dialog *sip_dialog_find_request(struct sip_dialog_table *tab,
                                           const osip_message_t *req)
{
    return find_by(tab, req, sip_msg_to_tag(req), sip_msg_from_tag(req));
}

struct sip_dialog *sip_dialog_find_response(struct sip_dialog_table *tab,
                                            const osip_message_t *resp)
{
    return find_by(tab, resp, sip_msg_from_tag(resp), sip_msg_to_tag(resp));
}

void sip_dialog_remove(struct sip_dialog_table *tab, struct sip_dialog *d)
{
    sip_chain_remove(&tab->chain, &d->_link);
    free_dialog(d);
}

/* "<uri>" of a From / To / Contact (the display name and parameters left out). */
static char *angle_uri(const osip_uri_t *u)
{
    char *s = NULL;
    if (!u || osip_uri_to_str(u, &s) != 0 || !s)
        return NULL;
    size_t n = strlen(s) + 3;
    char *r = malloc(n);
    if (r)
        snprintf(r, n, "<%s>", s);
    osip_free(s);
    return r;
}

static char *bare_uri(const osip_uri_t *u)
{
    char *s = NULL;
    if (!u || osip_uri_to_str(u, &s) != 0 || !s)
        return NULL;
    char *r = strdup(s);
    osip_free(s);
    return r;
}

static char *contact_uri(const osip_message_t *m)
{
    osip_contact_t *c = osip_list_get(&m->contacts, 0);
    return c ? bare_uri(c->url) : NULL;
}

/* The Record-Route values, in order (reverse: last first). */
static int take_routes(struct sip_dialog *d, const osip_message_t *m, bool reverse)
{
    int n = osip_list_size(&m->record_routes);
    if (n > SIP_DIALOG_ROUTES_MAX)
        return EINVAL;
    for (int i = 0; i < n; i++) {
        osip_record_route_t *rr = osip_list_get(&m->record_routes, reverse ? n - 1 - i : i);
        char *s = NULL;
        if (!rr || osip_record_route_to_str(rr, &s) != 0 || !s)
            return EINVAL;
        d->routes[d->route_count] = strdup(s);
        osip_free(s);
        if (!d->routes[d->route_count])
            return ENOMEM;
        d->route_count++;
    }
    return 0;
}

static struct sip_dialog *insert(struct sip_dialog_table *tab, struct sip_dialog *d)
{
    d->_link.hash = key_hash(d->call_id, d->local_tag, d->remote_tag);
    if (sip_dialog_find(tab, d->call_id, d->local_tag, d->remote_tag)) {
        free_dialog(d);
        errno = EEXIST;
        return NULL;
    }
    sip_chain_reserve(&tab->chain);
    sip_chain_insert(&tab->chain, &d->_link);
    return d;
}

static struct sip_dialog *fail(struct sip_dialog *d, int err)
{
    free_dialog(d);
    errno = err;
    return NULL;
}

struct sip_dialog *sip_dialog_create_uac(struct sip_dialog_table *tab,
                                         const osip_message_t *invite,
                                         const osip_message_t *resp)
{
    struct sip_dialog *d = calloc(1, sizeof *d);
    if (!d) {
        errno = ENOMEM;
        return NULL;
    }
    const char *lt = sip_msg_from_tag(invite), *rt = sip_msg_to_tag(resp);
    if (!lt || !rt || !invite->from || !invite->to)
        return fail(d, EINVAL);
    d->uac = true;
    d->call_id = call_id_text(invite);
    d->local_tag = strdup(lt);
    d->remote_tag = strdup(rt);
    d->local_uri = angle_uri(invite->from->url);
    d->remote_uri = angle_uri(invite->to->url);
    d->remote_target = contact_uri(resp);
    if (!d->remote_target)
        return fail(d, EINVAL);
    if (!d->call_id || !d->local_tag || !d->remote_tag || !d->local_uri || !d->remote_uri)
        return fail(d, ENOMEM);
    int r = take_routes(d, resp, true);
    if (r)
        return fail(d, r);
    d->local_cseq = sip_msg_cseq(invite);
    return insert(tab, d);
}

struct sip_dialog *sip_dialog_create_uas(struct sip_dialog_table *tab,
                                         const osip_message_t *invite, const char *local_tag)
{
    struct sip_dialog *d = calloc(1, sizeof *d);
    if (!d) {
        errno = ENOMEM;
        return NULL;
    }
    const char *rt = sip_msg_from_tag(invite);
    if (!rt || !local_tag || !invite->from || !invite->to)
        return fail(d, EINVAL);
    d->call_id = call_id_text(invite);
    d->local_tag = strdup(local_tag);
    d->remote_tag = strdup(rt);
    d->local_uri = angle_uri(invite->to->url);
    d->remote_uri = angle_uri(invite->from->url);
    d->remote_target = contact_uri(invite);
    if (!d->remote_target)
        return fail(d, EINVAL);
    if (!d->call_id || !d->local_tag || !d->remote_tag || !d->local_uri || !d->remote_uri)
        return fail(d, ENOMEM);
    int r = take_routes(d, invite, false);
    if (r)
        return fail(d, r);
    d->remote_cseq = sip_msg_cseq(invite);
    /* Our own requests count from 1 (RFC 3261 8.1.1.5, from memory: any value below 2**31). */
    d->local_cseq = 0;
    return insert(tab, d);
}

bool sip_dialog_check_remote_cseq(struct sip_dialog *d, uint32_t cseq)
{
    if (cseq < d->remote_cseq)
        return false;
    d->remote_cseq = cseq;
    return true;
}

int sip_dialog_next_hop(const struct sip_dialog *d, char *out, size_t cap)
{
    const char *src = d->route_count ? d->routes[0] : d->remote_target;
    const char *lt = strchr(src, '<');
    const char *b = lt ? lt + 1 : src;
    const char *e = lt ? strchr(b, '>') : NULL;
    size_t n = e ? (size_t)(e - b) : strlen(b);
    if (n >= cap)
        return ENOSPC;
    memcpy(out, b, n);
    out[n] = '\0';
    return 0;
}

int sip_dialog_build_request(struct sip_dialog *d, const char *method, uint32_t cseq,
                             const struct sip_dialog_via *via, const char *content_type,
                             const char *body, size_t body_len, char *out, size_t cap,
                             size_t *len, char *why, size_t why_cap)
{
    if (cseq == 0)
        cseq = ++d->local_cseq;
    const char *routes[SIP_DIALOG_ROUTES_MAX];
    for (int i = 0; i < d->route_count; i++)
        routes[i] = d->routes[i];
    struct sip_req r = {
        .method = method,
        .uri = d->remote_target,
        .from = d->local_uri,
        .from_tag = d->local_tag,
        .to = d->remote_uri,
        .to_tag = d->remote_tag,
        .call_id = d->call_id,
        .cseq = cseq,
        .via_transport = via->transport,
        .via_host = via->host,
        .via_port = via->port,
        .branch = via->branch,
        .contact = via->contact,
        .routes = routes,
        .route_count = d->route_count,
        .expires = -1,
        .content_type = content_type,
        .body = body,
        .body_len = body_len,
    };
    return sip_msg_build_request(&r, out, cap, len, why, why_cap);
}
