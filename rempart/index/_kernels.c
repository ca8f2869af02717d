/* Hot loops of rempart.index: ordering and bucketing 256-bit hashes, multi-index probing,
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
 *     holds entries directory[k] .. directory[k + 1] - 1, bucketed by the substring's first
 *     prefix_bits bits) and, except for the table over the substring at bit 0, one uint32
 *     posting per row: (row << suffix_bits) | the substring's last suffix_bits bits, where
 *     suffix_bits = key_bits - prefix_bits. The table at bit 0 has no postings: the rows are
 *     stored sorted by the whole hash, so its entries are the rows themselves.
 * Arrays may come from a file: every row number and offset read from them is bounds-checked,
 * so a damaged file gives wrong answers at worst, never a read outside the arrays.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HASH_BYTES 32
#define MAX_TABLES 32
#define MAX_KEY_BITS 32
#define MAX_PREFIX_BITS 28

/* popcnt is in every x86-64 CPU since 2008 but not in the x86-64 baseline that compilers target
 * by default; GCC and Clang build both versions of the hot functions and pick one when the
 * module loads. Elsewhere (aarch64) the builtin compiles to the native instruction already. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#define HOT __attribute__((target_clones("popcnt", "default")))
#else
#define HOT
#endif

/* How many iterations ahead each pass prefetches: enough misses in flight to hide DRAM
 * latency, few enough that the lines are still cached when the loop reaches them. */
#define AHEAD 16

static inline uint64_t load_be64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* Bits [start, start + bits) of a hash, bits <= 32, as an integer (first bit most significant). */
static inline uint32_t substring(const uint8_t *hash, int start, int bits) {
    int byte = start >> 3;
    if (byte > HASH_BYTES - 8) byte = HASH_BYTES - 8;
    uint64_t word = load_be64(hash + byte);
    return (uint32_t)((word << (start - 8 * byte)) >> (64 - bits));
}

static inline int distance256(const uint8_t *a, const uint8_t *b) {
    uint64_t x[4], y[4];
    memcpy(x, a, 32);
    memcpy(y, b, 32);
    return __builtin_popcountll(x[0] ^ y[0]) + __builtin_popcountll(x[1] ^ y[1]) +
           __builtin_popcountll(x[2] ^ y[2]) + __builtin_popcountll(x[3] ^ y[3]);
}

static inline uint32_t low_mask(int bits) { return (uint32_t)(((uint64_t)1 << bits) - 1); }

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
 * sort_hashes(hashes, prefix_bits, order_out)
 *
 * Writes into order_out (uint32, n) the permutation that sorts the rows by their whole 256-bit
 * value, so that equal hashes become adjacent: a counting sort on the first prefix_bits bits,
 * then a comparison sort inside each bucket (a few rows each on average).
 */
static inline int compare_rows(const uint8_t *hashes, uint32_t a, uint32_t b) {
    return memcmp(hashes + (size_t)a * HASH_BYTES, hashes + (size_t)b * HASH_BYTES, HASH_BYTES);
}

static void insertion_sort(const uint8_t *hashes, uint32_t *rows, size_t n) {
    for (size_t i = 1; i < n; i++) {
        uint32_t row = rows[i];
        size_t j = i;
        while (j > 0 && compare_rows(hashes, rows[j - 1], row) > 0) {
            rows[j] = rows[j - 1];
            j--;
        }
        rows[j] = row;
    }
}

/* Bottom-up merge sort for crowded buckets (many equal or near-equal hashes): O(n log n) in the
 * worst case, and no global state, so it runs without the GIL. */
static int merge_sort(const uint8_t *hashes, uint32_t *rows, size_t n) {
    uint32_t *spare = malloc(n * sizeof(uint32_t));
    if (!spare) return -1;
    const size_t run = 16;
    for (size_t lo = 0; lo < n; lo += run)
        insertion_sort(hashes, rows + lo, lo + run < n ? run : n - lo);
    uint32_t *from = rows, *to = spare;
    for (size_t width = run; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                to[k++] = compare_rows(hashes, from[j], from[i]) < 0 ? from[j++] : from[i++];
            while (i < mid) to[k++] = from[i++];
            while (j < hi) to[k++] = from[j++];
        }
        uint32_t *swap = from;
        from = to;
        to = swap;
    }
    if (from != rows) memcpy(rows, from, n * sizeof(uint32_t));
    free(spare);
    return 0;
}

static PyObject *sort_hashes(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *hashes_obj, *order_obj;
    int prefix_bits;
    if (!PyArg_ParseTuple(args, "OiO", &hashes_obj, &prefix_bits, &order_obj)) return NULL;
    if (prefix_bits < 1 || prefix_bits > MAX_PREFIX_BITS) {
        PyErr_SetString(PyExc_ValueError, "prefix_bits must be 1-28");
        return NULL;
    }
    Py_buffer hashes, order;
    Py_ssize_t n;
    if (get_hashes(hashes_obj, &hashes, &n, "hashes") < 0) return NULL;
    if (get_words(order_obj, &order, n, 1, "order") < 0) {
        PyBuffer_Release(&hashes);
        return NULL;
    }
    size_t buckets = (size_t)1 << prefix_bits;
    uint32_t *start = calloc(buckets + 1, sizeof(uint32_t));
    int failed = start == NULL;
    if (!failed) {
        const uint8_t *h = hashes.buf;
        uint32_t *out = order.buf;
        Py_BEGIN_ALLOW_THREADS;
        for (Py_ssize_t i = 0; i < n; i++)
            start[substring(h + i * HASH_BYTES, 0, prefix_bits) + 1]++;
        for (size_t k = 0; k < buckets; k++) start[k + 1] += start[k];
        /* Scatter with a running cursor per bucket, borrowed from start[k] and restored. */
        for (Py_ssize_t i = 0; i < n; i++)
            out[start[substring(h + i * HASH_BYTES, 0, prefix_bits)]++] = (uint32_t)i;
        for (size_t k = buckets; k > 0; k--) start[k] = start[k - 1];
        start[0] = 0;
        for (size_t k = 0; k < buckets && !failed; k++) {
            size_t size = start[k + 1] - start[k];
            if (size > 64)
                failed = merge_sort(h, out + start[k], size) < 0;
            else
                insertion_sort(h, out + start[k], size);
        }
        Py_END_ALLOW_THREADS;
    }
    free(start);
    PyBuffer_Release(&hashes);
    PyBuffer_Release(&order);
    if (failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------------------------------
 * fill_table(hashes, start_bit, key_bits, prefix_bits, directory_out, postings_out)
 *
 * Buckets the rows of `hashes` by the first prefix_bits of their substring [start_bit,
 * start_bit + key_bits): writes the directory (uint32, 2^prefix_bits + 1) and, unless
 * postings_out is None, the postings (uint32, n), rows ascending within a bucket. With None the
 * rows must already be sorted by that prefix (the table at bit 0 over hashes sorted by
 * sort_hashes), and only the directory is written.
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
    int with_postings = postings_obj != Py_None;
    if (with_postings && get_words(postings_obj, &postings, n, 1, "postings") < 0) {
        PyBuffer_Release(&hashes);
        PyBuffer_Release(&directory);
        return NULL;
    }
    const uint8_t *h = hashes.buf;
    uint32_t *dir = directory.buf;
    uint32_t suffix_mask = low_mask(suffix_bits);
    Py_BEGIN_ALLOW_THREADS;
    memset(dir, 0, (buckets + 1) * sizeof(uint32_t));
    for (Py_ssize_t i = 0; i < n; i++)
        dir[(substring(h + i * HASH_BYTES, start, key_bits) >> suffix_bits) + 1]++;
    for (size_t k = 0; k < buckets; k++) dir[k + 1] += dir[k];
    if (with_postings) {
        uint32_t *post = postings.buf;
        for (Py_ssize_t i = 0; i < n; i++) {
            uint32_t key = substring(h + i * HASH_BYTES, start, key_bits);
            post[dir[key >> suffix_bits]++] = ((uint32_t)i << suffix_bits) | (key & suffix_mask);
        }
        for (size_t k = buckets; k > 0; k--) dir[k] = dir[k - 1];
        dir[0] = 0;
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&hashes);
    PyBuffer_Release(&directory);
    if (with_postings) PyBuffer_Release(&postings);
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------------------------------
 * search(queries, hashes, max_distance, tables) -> (query_no, rows, distances) as bytes
 *
 * `tables` is a sequence of (start_bit, key_bits, prefix_bits, radius, directory, postings),
 * postings None for the table over the sorted rows. A table with radius < 0 is not probed. For
 * every query and probed table, every bucket whose prefix is within `radius` bits of the
 * query's is read; an entry whose whole substring stays within `radius` is verified on the
 * whole hash. A row within max_distance is reported once: by the first table whose radius
 * covers its substring distance. The caller chooses radii so that, by the pigeonhole principle,
 * every row within max_distance is covered by at least one table.
 */
typedef struct {
    int start, key_bits, prefix_bits, suffix_bits, radius;
    const uint32_t *directory;
    const uint32_t *postings; /* NULL: the table over the sorted rows */
} Table;

typedef struct {
    Table tables[MAX_TABLES];
    Py_buffer views[2 * MAX_TABLES];
    int count;
    int views_held;
    uint32_t rows;
} TableSet;

static void tables_release(TableSet *set) {
    for (int i = 0; i < set->views_held; i++) PyBuffer_Release(&set->views[i]);
    set->views_held = 0;
}

static int tables_parse(PyObject *seq, Py_ssize_t rows, TableSet *set) {
    set->count = 0;
    set->views_held = 0;
    set->rows = (uint32_t)rows;
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
        t->postings = NULL;
        if (postings_obj != Py_None) {
            view = &set->views[set->views_held];
            if (get_words(postings_obj, view, rows, 0, "postings") < 0) goto fail;
            set->views_held++;
            t->postings = view->buf;
        } else if (t->start != 0) {
            PyErr_SetString(PyExc_ValueError, "only the table at bit 0 may lack postings");
            goto fail;
        }
        set->count++;
    }
    Py_DECREF(fast);
    return 0;
fail:
    Py_DECREF(fast);
    tables_release(set);
    return -1;
}

/* True when a table before `found_by` covers the row too (and so reports it). */
static inline int seen_earlier(const TableSet *set, int found_by, const uint8_t *query,
                               const uint8_t *hash) {
    for (int t = 0; t < found_by; t++) {
        const Table *tab = &set->tables[t];
        if (tab->radius < 0) continue;
        uint32_t a = substring(query, tab->start, tab->key_bits);
        uint32_t b = substring(hash, tab->start, tab->key_bits);
        if (__builtin_popcount(a ^ b) <= tab->radius) return 1;
    }
    return 0;
}

static inline int report(const TableSet *set, int t, const uint8_t *query, uint32_t query_no,
                         const uint8_t *hash, uint32_t row, int distance, Hits *hits) {
    if (seen_earlier(set, t, query, hash)) return 0;
    return hits_push(hits, query_no, row, distance);
}

/* Next integer with the same number of set bits (Gosper's hack). */
static inline uint32_t next_combination(uint32_t v) {
    uint32_t t = v | (v - 1);
    return (t + 1) | (((~t & -~t) - 1) >> (__builtin_ctz(v) + 1));
}

static size_t binomial_sum(int n, int k) {
    size_t total = 0, term = 1;
    for (int i = 0; i <= k && i <= n; i++) {
        total += term;
        term = term * (size_t)(n - i) / (size_t)(i + 1);
    }
    return total;
}

/* Scratch of one search call, reused from query to query. A query runs in three passes so that
 * the memory reads within a pass are independent and overlap: a probe's directory entry, its
 * postings and a candidate's hash are each a cache miss in a large index, and chasing them one
 * probe at a time leaves the CPU waiting on every one. */
typedef struct {
    uint32_t *probe_key, *probe_lo, *probe_hi;
    uint8_t *probe_table, *probe_budget;
    size_t probe_capacity;
    uint32_t *cand_row;
    uint8_t *cand_table;
    size_t cand_capacity;
} Scratch;

static int grow(void **array, size_t capacity, size_t size) {
    void *bigger = realloc(*array, capacity * size);
    if (!bigger) return -1;
    *array = bigger;
    return 0;
}

static int reserve_probes(Scratch *s, size_t need) {
    if (need <= s->probe_capacity) return 0;
    size_t cap = need + need / 2;
    if (grow((void **)&s->probe_key, cap, 4) || grow((void **)&s->probe_lo, cap, 4) ||
        grow((void **)&s->probe_hi, cap, 4) || grow((void **)&s->probe_table, cap, 1) ||
        grow((void **)&s->probe_budget, cap, 1))
        return -1;
    s->probe_capacity = cap;
    return 0;
}

static int reserve_candidates(Scratch *s, size_t need) {
    if (need <= s->cand_capacity) return 0;
    size_t cap = need + need / 2 + 1024;
    if (grow((void **)&s->cand_row, cap, 4) || grow((void **)&s->cand_table, cap, 1)) return -1;
    s->cand_capacity = cap;
    return 0;
}

static void scratch_free(Scratch *s) {
    free(s->probe_key);
    free(s->probe_lo);
    free(s->probe_hi);
    free(s->probe_table);
    free(s->probe_budget);
    free(s->cand_row);
    free(s->cand_table);
}

HOT static int search_query(const TableSet *set, const uint8_t *query, uint32_t query_no,
                            const uint8_t *hashes, int max_distance, Scratch *s, Hits *hits) {
    /* Pass 1: every bucket to probe (prefixes within the table's radius of the query's, fewest
     * flipped bits first), then its bounds in the directory. */
    size_t need = 0;
    for (int t = 0; t < set->count; t++)
        if (set->tables[t].radius >= 0)
            need += binomial_sum(set->tables[t].prefix_bits, set->tables[t].radius);
    if (reserve_probes(s, need) < 0) return -1;
    size_t n = 0;
    for (int t = 0; t < set->count; t++) {
        const Table *tab = &set->tables[t];
        if (tab->radius < 0) continue;
        uint32_t prefix = substring(query, tab->start, tab->key_bits) >> tab->suffix_bits;
        uint64_t limit = (uint64_t)1 << tab->prefix_bits;
        for (int flips = 0; flips <= tab->radius && flips <= tab->prefix_bits; flips++) {
            uint32_t mask = low_mask(flips);
            for (;;) {
                s->probe_key[n] = prefix ^ mask;
                s->probe_table[n] = (uint8_t)t;
                s->probe_budget[n] = (uint8_t)(tab->radius - flips);
                n++;
                if (!flips) break;
                mask = next_combination(mask);
                if (mask >= limit) break;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (i + AHEAD < n)
            __builtin_prefetch(set->tables[s->probe_table[i + AHEAD]].directory +
                               s->probe_key[i + AHEAD]);
        const uint32_t *dir = set->tables[s->probe_table[i]].directory;
        uint32_t lo = dir[s->probe_key[i]], hi = dir[s->probe_key[i] + 1];
        if (hi > set->rows) hi = set->rows;
        s->probe_lo[i] = lo < hi ? lo : hi;
        s->probe_hi[i] = hi;
    }
    /* Pass 2: postings whose suffix keeps the substring within the radius become candidates.
     * The sorted table's entries are the hashes themselves, contiguous per bucket: they are
     * verified here. */
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + AHEAD < n) {
            const Table *ahead = &set->tables[s->probe_table[i + AHEAD]];
            if (ahead->postings)
                __builtin_prefetch(ahead->postings + s->probe_lo[i + AHEAD]);
            else
                __builtin_prefetch(hashes + (size_t)s->probe_lo[i + AHEAD] * HASH_BYTES);
        }
        uint32_t lo = s->probe_lo[i], hi = s->probe_hi[i];
        if (lo == hi) continue;
        int t = s->probe_table[i];
        const Table *tab = &set->tables[t];
        uint32_t suffix_mask = low_mask(tab->suffix_bits);
        uint32_t suffix = substring(query, tab->start, tab->key_bits) & suffix_mask;
        int budget = s->probe_budget[i];
        if (!tab->postings) {
            for (uint32_t row = lo; row < hi; row++) {
                const uint8_t *hash = hashes + (size_t)row * HASH_BYTES;
                uint32_t own = substring(hash, tab->start, tab->key_bits) & suffix_mask;
                if (__builtin_popcount(own ^ suffix) > budget) continue;
                int distance = distance256(query, hash);
                if (distance <= max_distance &&
                    report(set, t, query, query_no, hash, row, distance, hits) < 0)
                    return -1;
            }
            continue;
        }
        if (reserve_candidates(s, c + (hi - lo)) < 0) return -1;
        for (uint32_t j = lo; j < hi; j++) {
            uint32_t posting = tab->postings[j];
            s->cand_row[c] = posting >> tab->suffix_bits;
            s->cand_table[c] = (uint8_t)t;
            c += __builtin_popcount((posting & suffix_mask) ^ suffix) <= budget &&
                 (posting >> tab->suffix_bits) < set->rows;
        }
    }
    /* Pass 3: verify the posting tables' candidates on the whole hash. */
    for (size_t i = 0; i < c; i++) {
        if (i + AHEAD < c)
            __builtin_prefetch(hashes + (size_t)s->cand_row[i + AHEAD] * HASH_BYTES);
        uint32_t row = s->cand_row[i];
        const uint8_t *hash = hashes + (size_t)row * HASH_BYTES;
        int distance = distance256(query, hash);
        if (distance <= max_distance &&
            report(set, s->cand_table[i], query, query_no, hash, row, distance, hits) < 0)
            return -1;
    }
    return 0;
}

static PyObject *search(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *queries_obj, *hashes_obj, *tables_obj;
    int max_distance;
    if (!PyArg_ParseTuple(args, "OOiO", &queries_obj, &hashes_obj, &max_distance, &tables_obj))
        return NULL;
    Py_buffer queries, hashes;
    Py_ssize_t n_queries, n_rows;
    if (get_hashes(queries_obj, &queries, &n_queries, "queries") < 0) return NULL;
    if (get_hashes(hashes_obj, &hashes, &n_rows, "hashes") < 0) {
        PyBuffer_Release(&queries);
        return NULL;
    }
    TableSet set;
    if (tables_parse(tables_obj, n_rows, &set) < 0) {
        PyBuffer_Release(&queries);
        PyBuffer_Release(&hashes);
        return NULL;
    }
    Hits hits = {0};
    Scratch scratch = {0};
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t q = 0; q < n_queries && !failed; q++)
        failed = search_query(&set, (const uint8_t *)queries.buf + q * HASH_BYTES, (uint32_t)q,
                              hashes.buf, max_distance, &scratch, &hits);
    scratch_free(&scratch);
    Py_END_ALLOW_THREADS;
    tables_release(&set);
    PyBuffer_Release(&queries);
    PyBuffer_Release(&hashes);
    return hits_to_python(&hits, failed);
}

/* ---------------------------------------------------------------------------------------------
 * scan(queries, hashes, max_distance) -> (query_no, rows, distances) as bytes
 *
 * Every query against every row: the write buffer of an index, and the fallback when a radius
 * is so large that probing would cost more than reading every row.
 */
HOT static int scan_rows(const uint8_t *queries, Py_ssize_t n_queries, const uint8_t *hashes,
                         Py_ssize_t n_rows, int max_distance, Hits *hits) {
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
    failed = scan_rows(queries.buf, n_queries, hashes.buf, n_rows, max_distance, &hits);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&queries);
    PyBuffer_Release(&hashes);
    return hits_to_python(&hits, failed);
}

static PyMethodDef methods[] = {
    {"sort_hashes", sort_hashes, METH_VARARGS, "Permutation sorting rows by whole hash."},
    {"fill_table", fill_table, METH_VARARGS, "Bucket rows by a substring prefix."},
    {"search", search, METH_VARARGS, "Multi-index range search."},
    {"scan", scan, METH_VARARGS, "Linear range search."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels", "C kernels of rempart.index.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
