/* Hot loops of rempart.index: bucketing 256-bit hashes by substring, multi-index probing,
 * verification by popcount, linear scans.
 *
 * Only the CPython buffer protocol is used (no NumPy headers): the extension builds with a C
 * compiler and the Python headers alone. Every loop over hash data runs without the GIL, so
 * searches from several threads proceed in parallel over the same read-only arrays.
 *
 * Conventions shared with rempart/index/segment.py:
 *   - a hash is 32 bytes in the byte order of its hex form; bit 0 is the most significant bit of
 *     byte 0, and a substring [start, start + key_bits) reads as a big-endian integer;
 *   - a table over a substring has a directory of 2^prefix_bits + 1 uint32 offsets (bucket k
 *     holds postings directory[k] .. directory[k + 1] - 1, bucketed by the substring's first
 *     prefix_bits bits) and one uint32 posting per row: (row << suffix_bits) | the substring's
 *     last suffix_bits bits, where suffix_bits = key_bits - prefix_bits;
 *   - a segment may carry a tombstone bitmap, bit (row & 7) of byte row >> 3 set for a removed
 *     row: such rows are never reported.
 * Arrays may come from a file: every row number and offset read from them is bounds-checked,
 * so a damaged file gives wrong answers at worst, never a read outside the arrays.
 *
 * A search runs one of two ways, with the same answers:
 *   - query by query: the query's buckets in every table, in three passes so that the memory
 *     reads inside a pass are independent and overlap (each is a cache miss in a large index);
 *   - table by table (the caller chooses it for large batches on large segments): the probes of
 *     all the queries into one table, sorted by bucket and read in one forward sweep, then the
 *     candidates verified. At 10 M hashes a batch of 1000 queries probes most of every table,
 *     and the forward sweep was 10-20 % faster than the same reads made query by query.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define X86_DISPATCH 1
#else
#define X86_DISPATCH 0
#endif

#define HASH_BYTES 32
#define MAX_TABLES 32
#define MAX_KEY_BITS 32
#define MAX_PREFIX_BITS 28

/* How many probes or candidates ahead each pass prefetches: enough misses in flight to hide DRAM
 * latency, few enough that the lines are still cached when the loop reaches them (16 measured
 * best; 32 and 48 were slower). */
#define AHEAD 16

/* Probes held at once by the table-by-table search (8 bytes each): a larger batch is searched
 * in groups of queries. */
#define BATCH_PROBES ((size_t)1 << 21)

#define ALWAYS_INLINE __attribute__((always_inline)) inline

static inline uint64_t load_be64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* Bits [start, start + bits) of a hash, bits <= 32, as an integer (first bit most significant). */
static ALWAYS_INLINE uint32_t substring(const uint8_t *hash, int start, int bits) {
    int byte = start >> 3;
    if (byte > HASH_BYTES - 8) byte = HASH_BYTES - 8;
    uint64_t word = load_be64(hash + byte);
    return (uint32_t)((word << (start - 8 * byte)) >> (64 - bits));
}

static ALWAYS_INLINE int distance256(const uint8_t *a, const uint8_t *b) {
    uint64_t x[4], y[4];
    memcpy(x, a, 32);
    memcpy(y, b, 32);
    return __builtin_popcountll(x[0] ^ y[0]) + __builtin_popcountll(x[1] ^ y[1]) +
           __builtin_popcountll(x[2] ^ y[2]) + __builtin_popcountll(x[3] ^ y[3]);
}

static inline uint32_t low_mask(int bits) { return (uint32_t)(((uint64_t)1 << bits) - 1); }

static size_t binomial_sum(int n, int k) {
    size_t total = 0, term = 1;
    for (int i = 0; i <= k && i <= n; i++) {
        total += term;
        term = term * (size_t)(n - i) / (size_t)(i + 1);
    }
    return total;
}

/* Next integer with the same number of set bits (Gosper's hack). */
static inline uint32_t next_combination(uint32_t v) {
    uint32_t t = v | (v - 1);
    return (t + 1) | (((~t & -~t) - 1) >> (__builtin_ctz(v) + 1));
}

static int grow(void **array, size_t *capacity, size_t need, size_t size) {
    if (need <= *capacity) return 0;
    size_t cap = need + need / 2 + 64;
    void *bigger = realloc(*array, cap * size);
    if (!bigger) return -1;
    *array = bigger;
    *capacity = cap;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Growable list of hits: (query_no, row, distance).
 */
typedef struct {
    uint32_t *query_no;
    uint32_t *rows;
    uint8_t *distances;
    size_t count;
    size_t capacity;
} Hits;

static int hits_push(Hits *hits, uint32_t query_no, uint32_t row, int distance) {
    if (hits->count == hits->capacity) {
        size_t capacity = hits->capacity ? 2 * hits->capacity : 1024;
        uint32_t *q = realloc(hits->query_no, capacity * sizeof(uint32_t));
        if (q) hits->query_no = q;
        uint32_t *r = realloc(hits->rows, capacity * sizeof(uint32_t));
        if (r) hits->rows = r;
        uint8_t *d = realloc(hits->distances, capacity);
        if (d) hits->distances = d;
        if (!q || !r || !d) return -1;
        hits->capacity = capacity;
    }
    hits->query_no[hits->count] = query_no;
    hits->rows[hits->count] = row;
    hits->distances[hits->count] = (uint8_t)distance;
    hits->count++;
    return 0;
}

static void hits_free(Hits *hits) {
    free(hits->query_no);
    free(hits->rows);
    free(hits->distances);
}

/* The hits as three bytes objects (uint32 query_no, uint32 rows, uint8 distances); frees them. */
static PyObject *hits_to_python(Hits *hits, int failed) {
    if (failed) {
        hits_free(hits);
        return PyErr_NoMemory();
    }
    /* Py_BuildValue turns a NULL pointer into None: an empty list still needs bytes. */
    static const char nothing[1] = {0};
    Py_ssize_t words = (Py_ssize_t)(hits->count * sizeof(uint32_t));
    PyObject *result = Py_BuildValue(
        "(y#y#y#)", hits->count ? (const char *)hits->query_no : nothing, words,
        hits->count ? (const char *)hits->rows : nothing, words,
        hits->count ? (const char *)hits->distances : nothing, (Py_ssize_t)hits->count);
    hits_free(hits);
    return result;
}

/* ---------------------------------------------------------------------------------------------
 * Buffer helpers.
 */
static int get_hashes(PyObject *obj, Py_buffer *view, Py_ssize_t *count, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->len % HASH_BYTES) {
        PyErr_Format(PyExc_ValueError, "%s: length is not a multiple of 32 bytes", what);
        PyBuffer_Release(view);
        return -1;
    }
    *count = view->len / HASH_BYTES;
    if ((uint64_t)*count > UINT32_MAX) {
        PyErr_Format(PyExc_ValueError, "%s: more than 2^32 hashes", what);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static int get_words(PyObject *obj, Py_buffer *view, Py_ssize_t count, int writable,
                     const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    if (view->len != count * (Py_ssize_t)sizeof(uint32_t)) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd uint32 values, got %zd bytes", what,
                     count, view->len);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * fill_table(hashes, start_bit, key_bits, prefix_bits, directory_out, postings_out)
 *
 * Buckets the rows of `hashes` by the first prefix_bits of their substring [start_bit,
 * start_bit + key_bits): writes the directory (uint32, 2^prefix_bits + 1) and the postings
 * (uint32, n), rows ascending within a bucket.
 */
static PyObject *fill_table(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *hashes_obj, *directory_obj, *postings_obj;
    int start, key_bits, prefix_bits;
    if (!PyArg_ParseTuple(args, "OiiiOO", &hashes_obj, &start, &key_bits, &prefix_bits,
                          &directory_obj, &postings_obj))
        return NULL;
    if (key_bits < 1 || key_bits > MAX_KEY_BITS || start < 0 || start + key_bits > 256 ||
        prefix_bits < 1 || prefix_bits > key_bits || prefix_bits > MAX_PREFIX_BITS) {
        PyErr_SetString(PyExc_ValueError, "bad substring or prefix length");
        return NULL;
    }
    int suffix_bits = key_bits - prefix_bits;
    Py_buffer hashes, directory, postings;
    Py_ssize_t n;
    size_t buckets = (size_t)1 << prefix_bits;
    if (get_hashes(hashes_obj, &hashes, &n, "hashes") < 0) return NULL;
    if ((uint64_t)n > ((uint64_t)1 << (32 - suffix_bits))) {
        PyBuffer_Release(&hashes);
        PyErr_SetString(PyExc_ValueError, "too many rows for this suffix length");
        return NULL;
    }
    if (get_words(directory_obj, &directory, (Py_ssize_t)buckets + 1, 1, "directory") < 0) {
        PyBuffer_Release(&hashes);
        return NULL;
    }
    if (get_words(postings_obj, &postings, n, 1, "postings") < 0) {
        PyBuffer_Release(&hashes);
        PyBuffer_Release(&directory);
        return NULL;
    }
    const uint8_t *h = hashes.buf;
    uint32_t *dir = directory.buf, *post = postings.buf;
    uint32_t suffix_mask = low_mask(suffix_bits);
    Py_BEGIN_ALLOW_THREADS;
    memset(dir, 0, (buckets + 1) * sizeof(uint32_t));
    for (Py_ssize_t i = 0; i < n; i++)
        dir[(substring(h + i * HASH_BYTES, start, key_bits) >> suffix_bits) + 1]++;
    for (size_t k = 0; k < buckets; k++) dir[k + 1] += dir[k];
    /* Scatter with a running cursor per bucket, borrowed from dir[k] and restored. */
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t key = substring(h + i * HASH_BYTES, start, key_bits);
        post[dir[key >> suffix_bits]++] = ((uint32_t)i << suffix_bits) | (key & suffix_mask);
    }
    for (size_t k = buckets; k > 0; k--) dir[k] = dir[k - 1];
    dir[0] = 0;
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&hashes);
    PyBuffer_Release(&directory);
    PyBuffer_Release(&postings);
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------------------------------
 * search(queries, hashes, max_distance, tables, tombstones, by_table, first, stop)
 *     -> (query_no, rows, distances) as bytes
 *
 * `tables` is a sequence of (start_bit, key_bits, prefix_bits, radius, directory, postings); a
 * table with radius < 0 is not probed. `tombstones` is a bitmap of removed rows, or None.
 * `by_table` searches table by table rather than query by query (same answers). Only tables
 * [first, stop) are probed (a caller may split the tables between threads); the others still
 * decide which table reports a row. For
 * every query and probed table, every bucket whose prefix is within `radius` bits of the
 * query's is read, and a posting whose whole substring stays within `radius` is verified on the
 * whole hash. A row within max_distance is reported once: by the first table whose radius covers
 * its substring distance. The caller chooses radii so that, by the pigeonhole principle, every
 * row within max_distance is covered by at least one table.
 */
typedef struct {
    int start, key_bits, prefix_bits, suffix_bits, radius;
    const uint32_t *directory;
    const uint32_t *postings;
} Table;

typedef struct {
    Table tables[MAX_TABLES];
    Py_buffer views[2 * MAX_TABLES + 1];
    int count;
    int first, stop; /* the tables probed: [first, stop); the others only decide who reports */
    int views_held;
    uint32_t rows;
    const uint8_t *tombstones; /* NULL: no row removed */
} TableSet;

static void tables_release(TableSet *set) {
    for (int i = 0; i < set->views_held; i++) PyBuffer_Release(&set->views[i]);
    set->views_held = 0;
}

static int tables_parse(PyObject *seq, PyObject *tombstones, Py_ssize_t rows, TableSet *set) {
    set->count = 0;
    set->views_held = 0;
    set->rows = (uint32_t)rows;
    set->tombstones = NULL;
    PyObject *fast = PySequence_Fast(seq, "tables must be a sequence");
    if (!fast) return -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
    if (count > MAX_TABLES) {
        PyErr_SetString(PyExc_ValueError, "too many tables");
        goto fail;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *directory_obj, *postings_obj;
        Table *t = &set->tables[i];
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "iiiiOO", &t->start,
                              &t->key_bits, &t->prefix_bits, &t->radius, &directory_obj,
                              &postings_obj))
            goto fail;
        if (t->key_bits < 1 || t->key_bits > MAX_KEY_BITS || t->start < 0 ||
            t->start + t->key_bits > 256 || t->prefix_bits < 1 ||
            t->prefix_bits > t->key_bits || t->prefix_bits > MAX_PREFIX_BITS ||
            t->radius > t->key_bits) {
            PyErr_SetString(PyExc_ValueError, "bad table geometry");
            goto fail;
        }
        t->suffix_bits = t->key_bits - t->prefix_bits;
        Py_buffer *view = &set->views[set->views_held];
        if (get_words(directory_obj, view, ((Py_ssize_t)1 << t->prefix_bits) + 1, 0,
                      "directory") < 0)
            goto fail;
        set->views_held++;
        t->directory = view->buf;
        view = &set->views[set->views_held];
        if (get_words(postings_obj, view, rows, 0, "postings") < 0) goto fail;
        set->views_held++;
        t->postings = view->buf;
        set->count++;
    }
    if (tombstones != Py_None) {
        Py_buffer *view = &set->views[set->views_held];
        if (PyObject_GetBuffer(tombstones, view, PyBUF_C_CONTIGUOUS) < 0) goto fail;
        set->views_held++;
        if (view->len != (rows + 7) / 8) {
            PyErr_SetString(PyExc_ValueError, "tombstones: expected one bit per row");
            goto fail;
        }
        set->tombstones = view->buf;
    }
    Py_DECREF(fast);
    return 0;
fail:
    Py_DECREF(fast);
    tables_release(set);
    return -1;
}

/* Whether a verified row is reported: not removed, and no table before `found_by` covers it
 * (that table reports it). */
static ALWAYS_INLINE int reported_by(const TableSet *set, int found_by, const uint8_t *query,
                                     const uint8_t *hash, uint32_t row) {
    if (set->tombstones && (set->tombstones[row >> 3] >> (row & 7)) & 1) return 0;
    for (int t = 0; t < found_by; t++) {
        const Table *tab = &set->tables[t];
        if (tab->radius < 0) continue;
        uint32_t a = substring(query, tab->start, tab->key_bits);
        uint32_t b = substring(hash, tab->start, tab->key_bits);
        if (__builtin_popcount(a ^ b) <= tab->radius) return 0;
    }
    return 1;
}

/* Every bucket prefix within `radius` bits of `prefix` (fewest flipped bits first), with the
 * bits left for the suffix; returns how many were written (binomial_sum(prefix_bits, radius)). */
static ALWAYS_INLINE size_t enumerate_buckets(uint32_t prefix, int prefix_bits, int radius,
                                              uint32_t *keys, uint8_t *budgets) {
    size_t n = 0;
    uint64_t limit = (uint64_t)1 << prefix_bits;
    for (int flips = 0; flips <= radius && flips <= prefix_bits; flips++) {
        uint32_t mask = low_mask(flips);
        for (;;) {
            keys[n] = prefix ^ mask;
            budgets[n] = (uint8_t)(radius - flips);
            n++;
            if (!flips) break;
            mask = next_combination(mask);
            if (mask >= limit) break;
        }
    }
    return n;
}

/* The same buckets as items of the table-by-table search: bucket << 32 | bits left for the
 * suffix << 24 | query number within the group (below 2^24). */
static ALWAYS_INLINE size_t enumerate_items(uint32_t prefix, int prefix_bits, int radius,
                                            uint32_t query, uint64_t *items) {
    size_t n = 0;
    uint64_t limit = (uint64_t)1 << prefix_bits;
    for (int flips = 0; flips <= radius && flips <= prefix_bits; flips++) {
        uint32_t mask = low_mask(flips);
        uint64_t low = (uint64_t)(radius - flips) << 24 | query;
        for (;;) {
            items[n++] = (uint64_t)(prefix ^ mask) << 32 | low;
            if (!flips) break;
            mask = next_combination(mask);
            if (mask >= limit) break;
        }
    }
    return n;
}

/* The rows of the postings [lo, hi) whose suffix is within `budget` bits of `suffix`, appended
 * to `out` (room for hi - lo + 16 values); returns how many. Rows past the table are skipped. */
static ALWAYS_INLINE size_t filter_scalar(const uint32_t *postings, uint32_t lo, uint32_t hi,
                                          uint32_t suffix, uint32_t suffix_mask, int budget,
                                          int suffix_bits, uint32_t rows, uint32_t *out) {
    size_t c = 0;
    for (uint32_t j = lo; j < hi; j++) {
        uint32_t posting = postings[j];
        out[c] = posting >> suffix_bits;
        c += __builtin_popcount((posting ^ suffix) & suffix_mask) <= budget &&
             (posting >> suffix_bits) < rows;
    }
    return c;
}


/* Every cache line of [begin, end). */
static ALWAYS_INLINE void prefetch_range(const uint32_t *begin, const uint32_t *end) {
    uintptr_t line = (uintptr_t)begin & ~(uintptr_t)63;
    for (; line < (uintptr_t)end; line += 64) __builtin_prefetch((const void *)line);
}

/* Scratch of one search call, reused from query to query. */
typedef struct {
    /* per query: one entry per bucket probed */
    uint32_t *probe_key, *probe_lo, *probe_hi;
    uint8_t *probe_table, *probe_budget;
    size_t probe_capacity;
    /* candidate rows, grouped by table (table t: cand_start[t] .. cand_start[t + 1] - 1) */
    uint32_t *cand_row;
    size_t cand_capacity;
    size_t cand_start[MAX_TABLES + 1];
    /* table by table: the items of one table, unsorted then sorted, and each candidate's query */
    uint64_t *items, *sorted;
    size_t item_capacity, sorted_capacity;
    uint32_t *counts;
    size_t count_capacity;
    uint32_t *cand_query;
    size_t cand_query_capacity;
} Scratch;

static void scratch_free(Scratch *s) {
    free(s->probe_key);
    free(s->probe_lo);
    free(s->probe_hi);
    free(s->probe_table);
    free(s->probe_budget);
    free(s->cand_row);
    free(s->items);
    free(s->sorted);
    free(s->counts);
    free(s->cand_query);
}

static int reserve_probes(Scratch *s, size_t need) {
    if (need <= s->probe_capacity) return 0;
    size_t cap = s->probe_capacity;
    if (grow((void **)&s->probe_key, &cap, need, 4)) return -1;
    cap = s->probe_capacity;
    if (grow((void **)&s->probe_lo, &cap, need, 4)) return -1;
    cap = s->probe_capacity;
    if (grow((void **)&s->probe_hi, &cap, need, 4)) return -1;
    cap = s->probe_capacity;
    if (grow((void **)&s->probe_table, &cap, need, 1)) return -1;
    cap = s->probe_capacity;
    if (grow((void **)&s->probe_budget, &cap, need, 1)) return -1;
    s->probe_capacity = cap;
    return 0;
}

/* One query against every table, postings filtered by `FILTER`. */
#define SEARCH_QUERY_BODY(FILTER)                                                                \
    do {                                                                                         \
        /* Pass 1: every bucket to probe, then its bounds in the directory. */                  \
        size_t n = 0;                                                                            \
        for (int t = set->first; t < set->stop; t++) {                                           \
            const Table *tab = &set->tables[t];                                                  \
            if (tab->radius < 0) continue;                                                       \
            uint32_t prefix = substring(query, tab->start, tab->key_bits) >> tab->suffix_bits;   \
            size_t added = enumerate_buckets(prefix, tab->prefix_bits, tab->radius,              \
                                             s->probe_key + n, s->probe_budget + n);             \
            memset(s->probe_table + n, t, added);                                                \
            n += added;                                                                          \
        }                                                                                        \
        for (size_t i = 0; i < n; i++) {                                                         \
            if (i + AHEAD < n)                                                                   \
                __builtin_prefetch(set->tables[s->probe_table[i + AHEAD]].directory +            \
                                   s->probe_key[i + AHEAD]);                                     \
            const uint32_t *dir = set->tables[s->probe_table[i]].directory;                      \
            uint32_t lo = dir[s->probe_key[i]], hi = dir[s->probe_key[i] + 1];                   \
            if (hi > set->rows) hi = set->rows;                                                  \
            s->probe_lo[i] = lo < hi ? lo : hi;                                                  \
            s->probe_hi[i] = hi;                                                                 \
        }                                                                                        \
        /* Pass 2: postings whose suffix keeps the substring within the radius become            \
         * candidates, grouped by table (the probes are in table order). */                     \
        size_t c = 0;                                                                            \
        int table = 0;                                                                           \
        s->cand_start[0] = 0;                                                                    \
        for (size_t i = 0; i < n; i++) {                                                         \
            if (i + AHEAD < n) {                                                                 \
                const uint32_t *post = set->tables[s->probe_table[i + AHEAD]].postings;          \
                prefetch_range(post + s->probe_lo[i + AHEAD], post + s->probe_hi[i + AHEAD]);    \
            }                                                                                    \
            while (table < s->probe_table[i]) s->cand_start[++table] = c;                       \
            uint32_t lo = s->probe_lo[i], hi = s->probe_hi[i];                                   \
            if (lo == hi) continue;                                                              \
            const Table *tab = &set->tables[table];                                              \
            uint32_t suffix_mask = low_mask(tab->suffix_bits);                                   \
            uint32_t suffix = substring(query, tab->start, tab->key_bits) & suffix_mask;         \
            if (grow((void **)&s->cand_row, &s->cand_capacity, c + (hi - lo) + 16, 4) < 0)       \
                return -1;                                                                       \
            c += FILTER(tab->postings, lo, hi, suffix, suffix_mask, s->probe_budget[i],          \
                        tab->suffix_bits, set->rows, s->cand_row + c);                           \
        }                                                                                        \
        while (table < set->count) s->cand_start[++table] = c;                                  \
        /* Pass 3: verify the candidates on the whole hash. */                                  \
        for (int t = 0; t < set->count; t++) {                                                   \
            for (size_t i = s->cand_start[t]; i < s->cand_start[t + 1]; i++) {                  \
                if (i + AHEAD < c)                                                               \
                    __builtin_prefetch(hashes + (size_t)s->cand_row[i + AHEAD] * HASH_BYTES);    \
                uint32_t row = s->cand_row[i];                                                   \
                const uint8_t *hash = hashes + (size_t)row * HASH_BYTES;                         \
                int distance = distance256(query, hash);                                         \
                if (distance <= max_distance && reported_by(set, t, query, hash, row) &&         \
                    hits_push(hits, query_no, row, distance) < 0)                                \
                    return -1;                                                                   \
            }                                                                                    \
        }                                                                                        \
        return 0;                                                                                \
    } while (0)

/* The probes of `n_queries` queries into table t, sorted by bucket and read in one forward
 * sweep, then the candidates verified. */
#define SEARCH_TABLE_BODY(FILTER)                                                                \
    do {                                                                                         \
        const Table *tab = &set->tables[t];                                                      \
        uint32_t suffix_mask = low_mask(tab->suffix_bits);                                       \
        size_t n = binomial_sum(tab->prefix_bits, tab->radius) * n_queries;                      \
        if (grow((void **)&s->items, &s->item_capacity, n, 8) ||                                 \
            grow((void **)&s->sorted, &s->sorted_capacity, n, 8))                                \
            return -1;                                                                           \
        n = 0;                                                                                   \
        for (uint32_t q = 0; q < n_queries; q++) {                                               \
            uint32_t key = substring(queries + (size_t)q * HASH_BYTES, tab->start, tab->key_bits); \
            n += enumerate_items(key >> tab->suffix_bits, tab->prefix_bits, tab->radius, q,      \
                                 s->items + n);                                                  \
        }                                                                                        \
        /* Counting sort on the bucket's first bits, about one sort slot per item. */            \
        int sort_bits = 8;                                                                       \
        while (sort_bits < 16 && ((size_t)1 << sort_bits) < n) sort_bits++;                     \
        if (sort_bits > tab->prefix_bits) sort_bits = tab->prefix_bits;                          \
        int shift = 32 + tab->prefix_bits - sort_bits;                                           \
        size_t slots = (size_t)1 << sort_bits;                                                   \
        if (grow((void **)&s->counts, &s->count_capacity, slots + 1, 4)) return -1;              \
        memset(s->counts, 0, (slots + 1) * sizeof(uint32_t));                                    \
        for (size_t i = 0; i < n; i++) s->counts[(s->items[i] >> shift) + 1]++;                  \
        for (size_t k = 0; k < slots; k++) s->counts[k + 1] += s->counts[k];                     \
        for (size_t i = 0; i < n; i++)                                                           \
            s->sorted[s->counts[s->items[i] >> shift]++] = s->items[i];                          \
        /* The sweep: postings within the radius become candidates (row, query). */             \
        size_t c = 0;                                                                            \
        for (size_t i = 0; i < n; i++) {                                                         \
            if (i + 2 * AHEAD < n)                                                               \
                __builtin_prefetch(tab->directory + (s->sorted[i + 2 * AHEAD] >> 32));           \
            if (i + AHEAD < n) {                                                                 \
                uint32_t key = (uint32_t)(s->sorted[i + AHEAD] >> 32);                           \
                uint32_t lo = tab->directory[key], hi = tab->directory[key + 1];                 \
                if (hi > set->rows) hi = set->rows;                                              \
                if (lo < hi) prefetch_range(tab->postings + lo, tab->postings + hi);             \
            }                                                                                    \
            uint64_t item = s->sorted[i];                                                        \
            uint32_t key = (uint32_t)(item >> 32), q = (uint32_t)(item & 0xffffff);              \
            uint32_t lo = tab->directory[key], hi = tab->directory[key + 1];                     \
            if (hi > set->rows) hi = set->rows;                                                  \
            if (lo >= hi) continue;                                                              \
            uint32_t suffix =                                                                    \
                substring(queries + (size_t)q * HASH_BYTES, tab->start, tab->key_bits) &         \
                suffix_mask;                                                                     \
            if (grow((void **)&s->cand_row, &s->cand_capacity, c + (hi - lo) + 16, 4) ||         \
                grow((void **)&s->cand_query, &s->cand_query_capacity, c + (hi - lo), 4))        \
                return -1;                                                                       \
            size_t found = FILTER(tab->postings, lo, hi, suffix, suffix_mask,                    \
                                  (int)((item >> 24) & 0xff), tab->suffix_bits, set->rows,       \
                                  s->cand_row + c);                                              \
            for (size_t j = 0; j < found; j++) s->cand_query[c + j] = q;                         \
            c += found;                                                                          \
        }                                                                                        \
        for (size_t i = 0; i < c; i++) {                                                         \
            if (i + AHEAD < c)                                                                   \
                __builtin_prefetch(hashes + (size_t)s->cand_row[i + AHEAD] * HASH_BYTES);        \
            uint32_t row = s->cand_row[i];                                                       \
            const uint8_t *hash = hashes + (size_t)row * HASH_BYTES;                             \
            const uint8_t *query = queries + (size_t)s->cand_query[i] * HASH_BYTES;              \
            int distance = distance256(query, hash);                                             \
            if (distance <= max_distance && reported_by(set, t, query, hash, row) &&             \
                hits_push(hits, first_query + s->cand_query[i], row, distance) < 0)              \
                return -1;                                                                       \
        }                                                                                        \
        return 0;                                                                                \
    } while (0)

static int search_query_scalar(const TableSet *set, const uint8_t *query, uint32_t query_no,
                               const uint8_t *hashes, int max_distance, Scratch *s, Hits *hits) {
    SEARCH_QUERY_BODY(filter_scalar);
}

static int search_table_scalar(const TableSet *set, int t, const uint8_t *queries,
                               uint32_t n_queries, uint32_t first_query, const uint8_t *hashes,
                               int max_distance, Scratch *s, Hits *hits) {
    SEARCH_TABLE_BODY(filter_scalar);
}

/* Every query against every row: the write buffer of an index, and the fallback when a radius
 * is so large that probing would cost more than reading every row. */
static ALWAYS_INLINE int scan_body(const uint8_t *queries, Py_ssize_t n_queries,
                                   const uint8_t *hashes, Py_ssize_t n_rows, int max_distance,
                                   Hits *hits) {
    /* A block of rows (64 KiB) stays in cache while every query passes over it. */
    const Py_ssize_t block = 2048;
    for (Py_ssize_t first = 0; first < n_rows; first += block) {
        Py_ssize_t last = first + block < n_rows ? first + block : n_rows;
        for (Py_ssize_t q = 0; q < n_queries; q++) {
            const uint8_t *query = queries + q * HASH_BYTES;
            for (Py_ssize_t row = first; row < last; row++) {
                int distance = distance256(query, hashes + row * HASH_BYTES);
                if (distance <= max_distance &&
                    hits_push(hits, (uint32_t)q, (uint32_t)row, distance) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

static int scan_scalar(const uint8_t *queries, Py_ssize_t n_queries, const uint8_t *hashes,
                       Py_ssize_t n_rows, int max_distance, Hits *hits) {
    return scan_body(queries, n_queries, hashes, n_rows, max_distance, hits);
}

#if X86_DISPATCH
/* The same kernels with the popcnt instruction (in every x86-64 CPU since 2008, not in the
 * baseline that compilers target by default); chosen when the module loads.
 * Elsewhere (aarch64) the builtin compiles to the native instruction already. */
__attribute__((target("popcnt"))) static int search_query_popcnt(
    const TableSet *set, const uint8_t *query, uint32_t query_no, const uint8_t *hashes,
    int max_distance, Scratch *s, Hits *hits) {
    SEARCH_QUERY_BODY(filter_scalar);
}

__attribute__((target("popcnt"))) static int search_table_popcnt(
    const TableSet *set, int t, const uint8_t *queries, uint32_t n_queries,
    uint32_t first_query, const uint8_t *hashes, int max_distance, Scratch *s, Hits *hits) {
    SEARCH_TABLE_BODY(filter_scalar);
}

__attribute__((target("popcnt"))) static int scan_popcnt(
    const uint8_t *queries, Py_ssize_t n_queries, const uint8_t *hashes, Py_ssize_t n_rows,
    int max_distance, Hits *hits) {
    return scan_body(queries, n_queries, hashes, n_rows, max_distance, hits);
}
#endif

/* The kernels this CPU runs, fastest last; the module starts with the fastest. */
typedef struct {
    const char *name;
    int (*search_query)(const TableSet *, const uint8_t *, uint32_t, const uint8_t *, int,
                        Scratch *, Hits *);
    int (*search_table)(const TableSet *, int, const uint8_t *, uint32_t, uint32_t,
                        const uint8_t *, int, Scratch *, Hits *);
    int (*scan_rows)(const uint8_t *, Py_ssize_t, const uint8_t *, Py_ssize_t, int, Hits *);
} Kernel;

static Kernel kernels[2] = {{"scalar", search_query_scalar, search_table_scalar, scan_scalar}};
static int kernel_count = 1;
static const Kernel *kernel = &kernels[0];

static void find_kernels(void) {
#if X86_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("popcnt"))
        kernels[kernel_count++] = (Kernel){"popcnt", search_query_popcnt, search_table_popcnt, scan_popcnt};
#endif
    kernel = &kernels[kernel_count - 1];
}

static int search_all(const TableSet *set, const uint8_t *queries, size_t n_queries,
                      const uint8_t *hashes, int max_distance, int by_table, Scratch *s,
                      Hits *hits) {
    if (by_table) {
        for (int t = set->first; t < set->stop; t++) {
            if (set->tables[t].radius < 0) continue;
            size_t group = BATCH_PROBES / binomial_sum(set->tables[t].prefix_bits,
                                                       set->tables[t].radius);
            if (group < 1) group = 1;
            if (group > 0xffffff) group = 0xffffff;
            for (size_t begin = 0; begin < n_queries; begin += group) {
                size_t count = n_queries - begin < group ? n_queries - begin : group;
                if (kernel->search_table(set, t, queries + begin * HASH_BYTES, (uint32_t)count,
                                         (uint32_t)begin, hashes, max_distance, s, hits) < 0)
                    return -1;
            }
        }
        return 0;
    }
    size_t need = 0;
    for (int t = set->first; t < set->stop; t++)
        if (set->tables[t].radius >= 0)
            need += binomial_sum(set->tables[t].prefix_bits, set->tables[t].radius);
    if (reserve_probes(s, need) < 0) return -1;
    for (size_t q = 0; q < n_queries; q++)
        if (kernel->search_query(set, queries + q * HASH_BYTES, (uint32_t)q, hashes,
                                 max_distance, s, hits) < 0)
            return -1;
    return 0;
}

static PyObject *search(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *queries_obj, *hashes_obj, *tables_obj, *tombstones_obj;
    int max_distance, by_table, first, stop;
    if (!PyArg_ParseTuple(args, "OOiOOpii", &queries_obj, &hashes_obj, &max_distance,
                          &tables_obj, &tombstones_obj, &by_table, &first, &stop))
        return NULL;
    Py_buffer queries, hashes;
    Py_ssize_t n_queries, n_rows;
    if (get_hashes(queries_obj, &queries, &n_queries, "queries") < 0) return NULL;
    if (get_hashes(hashes_obj, &hashes, &n_rows, "hashes") < 0) {
        PyBuffer_Release(&queries);
        return NULL;
    }
    TableSet set;
    if (tables_parse(tables_obj, tombstones_obj, n_rows, &set) < 0) {
        PyBuffer_Release(&queries);
        PyBuffer_Release(&hashes);
        return NULL;
    }
    if (first < 0 || first > stop || stop > set.count) {
        tables_release(&set);
        PyBuffer_Release(&queries);
        PyBuffer_Release(&hashes);
        PyErr_SetString(PyExc_ValueError, "the tables to probe lie outside the tables");
        return NULL;
    }
    set.first = first;
    set.stop = stop;
    Hits hits = {0};
    Scratch scratch = {0};
    int failed;
    Py_BEGIN_ALLOW_THREADS;
    failed = search_all(&set, queries.buf, (size_t)n_queries, hashes.buf, max_distance, by_table,
                        &scratch, &hits) < 0;
    scratch_free(&scratch);
    Py_END_ALLOW_THREADS;
    tables_release(&set);
    PyBuffer_Release(&queries);
    PyBuffer_Release(&hashes);
    return hits_to_python(&hits, failed);
}

/* ---------------------------------------------------------------------------------------------
 * scan(queries, hashes, max_distance) -> (query_no, rows, distances) as bytes
 */
static PyObject *scan(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *queries_obj, *hashes_obj;
    int max_distance;
    if (!PyArg_ParseTuple(args, "OOi", &queries_obj, &hashes_obj, &max_distance)) return NULL;
    Py_buffer queries, hashes;
    Py_ssize_t n_queries, n_rows;
    if (get_hashes(queries_obj, &queries, &n_queries, "queries") < 0) return NULL;
    if (get_hashes(hashes_obj, &hashes, &n_rows, "hashes") < 0) {
        PyBuffer_Release(&queries);
        return NULL;
    }
    Hits hits = {0};
    int failed;
    Py_BEGIN_ALLOW_THREADS;
    failed = kernel->scan_rows(queries.buf, n_queries, hashes.buf, n_rows, max_distance, &hits);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&queries);
    PyBuffer_Release(&hashes);
    return hits_to_python(&hits, failed);
}

/* ---------------------------------------------------------------------------------------------
 * kernel_names() -> the kernels this CPU runs; use_kernel(name): run that one from now on.
 * For tests, which check every kernel against the oracle; not thread-safe.
 */
static PyObject *kernel_names(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *names = PyTuple_New(kernel_count);
    for (int i = 0; names && i < kernel_count; i++)
        PyTuple_SET_ITEM(names, i, PyUnicode_FromString(kernels[i].name));
    return names;
}

static PyObject *use_kernel(PyObject *self, PyObject *args) {
    (void)self;
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    for (int i = 0; i < kernel_count; i++)
        if (!strcmp(kernels[i].name, name)) {
            kernel = &kernels[i];
            Py_RETURN_NONE;
        }
    PyErr_Format(PyExc_ValueError, "no kernel %s on this CPU", name);
    return NULL;
}

static PyMethodDef methods[] = {
    {"kernel_names", kernel_names, METH_NOARGS, "The kernels this CPU runs, fastest last."},
    {"use_kernel", use_kernel, METH_VARARGS, "Run the named kernel from now on (tests)."},
    {"fill_table", fill_table, METH_VARARGS, "Bucket rows by a substring prefix."},
    {"search", search, METH_VARARGS, "Multi-index range search."},
    {"scan", scan, METH_VARARGS, "Linear range search."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels", "C kernels of rempart.index.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void) {
    find_kernels();
    return PyModule_Create(&module);
}
