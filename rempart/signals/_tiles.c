/* Hot loops of the query side of rempart.signals.regions: many boxes of one luma image resampled
 * to 64x64 tiles, and PDQ's quality of many tiles.
 *
 * A query hashes some 300 boxes of one 512-pixel working copy: through cv2.resize, 37 us a box,
 * a quarter of a query's hashing. A straight port of OpenCV's loop, all boxes in one call, was
 * only 10% faster (the work is the resampling, not the calls); what pays is the order of the
 * work: the input rows weighted down into the 64 output rows first (a contiguous inner loop that
 * vectorises), then each output row's columns weighted across, four rows at a time (independent
 * sums instead of one chain of dependent adds): 14 us a box.
 *
 * The resampling is OpenCV's INTER_AREA for a reduction (box at least 64 pixels each way): each
 * output pixel is the mean of the input area it covers, border pixels weighted by the fraction
 * of them inside, with OpenCV's weight tables (computeResizeAreaTab: the same cell bounds, the
 * same 1e-3 tolerance, float weights). OpenCV sums across first and down second; the other
 * order changes the tiles by float rounding only (at most 1e-4 of a grey level; on 14,571
 * boxes of the shared photos not one hash bit). Boxes smaller than 64 pixels either way are
 * left untouched: OpenCV enlarges them with linear weights, and the caller resizes those few
 * itself.
 *
 * Only the CPython buffer protocol is used (no NumPy headers), as in rempart/index/_kernels.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SIDE 64
#define TILE (SIDE * SIDE)

typedef struct {
    int source;  /* input pixel (column or row) */
    int target;  /* output pixel it contributes to */
    float weight;
} Weight;

/* OpenCV's computeResizeAreaTab for one axis: `size` input pixels onto SIDE outputs. Returns the
 * number of entries written to `tab` (at most 2 * size + 2 * SIDE). */
static int area_weights(int size, Weight *tab) {
    double scale = 1.0 / ((double)SIDE / size);
    int k = 0;
    for (int out = 0; out < SIDE; out++) {
        double from = out * scale;
        double to = from + scale;
        double cell = scale < size - from ? scale : size - from;
        int first = (int)ceil(from), last = (int)floor(to);
        if (last > size - 1) last = size - 1;
        if (first > last) first = last;
        if (first - from > 1e-3) tab[k++] = (Weight){first - 1, out, (float)((first - from) / cell)};
        for (int pixel = first; pixel < last; pixel++)
            tab[k++] = (Weight){pixel, out, (float)(1.0 / cell)};
        if (to - last > 1e-3) {
            double part = to - last < 1.0 ? to - last : 1.0;
            if (part > cell) part = cell;
            tab[k++] = (Weight){last, out, (float)(part / cell)};
        }
    }
    return k;
}

/* One box [x0, x1) x [y0, y1) of `image` (row stride `stride` floats) into `tile`: for each
 * output row, the input rows it covers weighted and summed down (contiguous, vectorised) into
 * `down` (SIDE x width floats); then each output pixel's columns of those sums weighted across,
 * four rows at a time (four independent sums in flight instead of one chain of dependent adds;
 * each sum adds in the same order). `xtab`, `ytab` are scratch of 2 * width + 2 * SIDE and
 * 2 * height + 2 * SIDE entries. */
__attribute__((target_clones("avx2", "default"))) static void resample(
    const float *image, Py_ssize_t stride, int x0, int y0, int x1, int y1, float *tile,
    Weight *xtab, Weight *ytab, float *restrict down) {
    int width = x1 - x0;
    int nx = area_weights(width, xtab);
    int ny = area_weights(y1 - y0, ytab);
    int xstart[SIDE + 1];
    for (int k = 0, x = 0; x <= SIDE; x++) {
        while (k < nx && xtab[k].target < x) k++;
        xstart[x] = k;
    }
    memset(down, 0, (size_t)SIDE * width * sizeof(float));
    for (int j = 0; j < ny; j++) {
        const float *restrict source = image + (Py_ssize_t)(y0 + ytab[j].source) * stride + x0;
        float *restrict sum = down + (Py_ssize_t)ytab[j].target * width;
        float beta = ytab[j].weight;
        for (int x = 0; x < width; x++) sum[x] += beta * source[x];
    }
    for (int out = 0; out < SIDE; out += 4) {
        const float *a = down + (Py_ssize_t)out * width, *b = a + width, *c = b + width,
                    *d = c + width;
        float *row = tile + (Py_ssize_t)out * SIDE;
        for (int x = 0; x < SIDE; x++) {
            float sa = 0.0f, sb = 0.0f, sc = 0.0f, sd = 0.0f;
            for (int k = xstart[x]; k < xstart[x + 1]; k++) {
                int at = xtab[k].source;
                float alpha = xtab[k].weight;
                sa += a[at] * alpha;
                sb += b[at] * alpha;
                sc += c[at] * alpha;
                sd += d[at] * alpha;
            }
            row[x] = sa;
            row[SIDE + x] = sb;
            row[2 * SIDE + x] = sc;
            row[3 * SIDE + x] = sd;
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * area_tiles(image, boxes, tiles)
 *
 * image: float32 (height, width), C-contiguous; boxes: int32 (n, 4) pixel bounds x0, y0, x1, y1
 * with 0 <= x0 < x1 <= width, same for y; tiles: float32 (n, 64, 64), writable. Fills the tiles
 * of the boxes at least 64 pixels each way; returns how many it filled.
 */
static PyObject *area_tiles(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *image_obj, *boxes_obj, *tiles_obj;
    Py_ssize_t height, width;
    if (!PyArg_ParseTuple(args, "OnnOO", &image_obj, &height, &width, &boxes_obj, &tiles_obj))
        return NULL;
    Py_buffer image, boxes, tiles;
    if (PyObject_GetBuffer(image_obj, &image, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (PyObject_GetBuffer(boxes_obj, &boxes, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&image);
        return NULL;
    }
    if (PyObject_GetBuffer(tiles_obj, &tiles, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&image);
        PyBuffer_Release(&boxes);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t count = boxes.len / (Py_ssize_t)(4 * sizeof(int32_t));
    const int32_t *bounds = boxes.buf;
    Weight *xtab = NULL, *ytab = NULL;
    float *down = NULL;
    if (height < 1 || width < 1 || image.len != height * width * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "image: expected height x width float32 values");
        goto done;
    }
    if (boxes.len % (Py_ssize_t)(4 * sizeof(int32_t)) ||
        tiles.len != count * (Py_ssize_t)(TILE * sizeof(float))) {
        PyErr_SetString(PyExc_ValueError, "boxes: (n, 4) int32; tiles: (n, 64, 64) float32");
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        const int32_t *b = bounds + 4 * i;
        if (b[0] < 0 || b[1] < 0 || b[2] > width || b[3] > height || b[0] >= b[2] || b[1] >= b[3]) {
            PyErr_Format(PyExc_ValueError, "box %zd lies outside the %zd x %zd image", i, width,
                         height);
            goto done;
        }
    }
    xtab = malloc((2 * (size_t)width + 2 * SIDE) * sizeof(Weight));
    ytab = malloc((2 * (size_t)height + 2 * SIDE) * sizeof(Weight));
    down = malloc((size_t)SIDE * width * sizeof(float));
    if (!xtab || !ytab || !down) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t filled = 0;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t i = 0; i < count; i++) {
        const int32_t *b = bounds + 4 * i;
        if (b[2] - b[0] < SIDE || b[3] - b[1] < SIDE) continue;
        resample(image.buf, width, b[0], b[1], b[2], b[3], (float *)tiles.buf + i * TILE, xtab,
                 ytab, down);
        filled++;
    }
    Py_END_ALLOW_THREADS;
    result = PyLong_FromSsize_t(filled);
done:
    free(xtab);
    free(ytab);
    free(down);
    PyBuffer_Release(&image);
    PyBuffer_Release(&boxes);
    PyBuffer_Release(&tiles);
    return result;
}

/* Branch-free loops over rows of neighbours (each sum fits an int32: at most 8064 steps of 100). */
__attribute__((target_clones("avx2", "default"))) static int64_t quality(const float *restrict t) {
    const float hundred = 100.0f, full = 255.0f;
    int32_t total = 0;
    for (int y = 0; y + 1 < SIDE; y++)
        for (int x = 0; x < SIDE; x++)
            total += (int32_t)(fabsf(t[(y + 1) * SIDE + x] - t[y * SIDE + x]) * hundred / full);
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x + 1 < SIDE; x++)
            total += (int32_t)(fabsf(t[y * SIDE + x + 1] - t[y * SIDE + x]) * hundred / full);
    total /= 90;
    return total < 100 ? total : 100;
}

/* ---------------------------------------------------------------------------------------------
 * tile_quality(tiles, out)
 *
 * tiles: float32 (n, 64, 64); out: int64 (n,), writable. PDQ's quality of each tile, as the C++
 * reference computes it: the sum over vertical and horizontal neighbours of
 * trunc(|u - v| * 100 / 255) in float32, divided by 90, at most 100.
 */
static PyObject *tile_quality(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *tiles_obj, *out_obj;
    if (!PyArg_ParseTuple(args, "OO", &tiles_obj, &out_obj)) return NULL;
    Py_buffer tiles, out;
    if (PyObject_GetBuffer(tiles_obj, &tiles, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&tiles);
        return NULL;
    }
    Py_ssize_t count = tiles.len / (Py_ssize_t)(TILE * sizeof(float));
    if (tiles.len % (Py_ssize_t)(TILE * sizeof(float)) ||
        out.len != count * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "tiles: (n, 64, 64) float32; out: (n,) int64");
        PyBuffer_Release(&tiles);
        PyBuffer_Release(&out);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t i = 0; i < count; i++)
        ((int64_t *)out.buf)[i] = quality((const float *)tiles.buf + i * TILE);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&tiles);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"area_tiles", area_tiles, METH_VARARGS, "Boxes of a float32 image resampled to 64x64."},
    {"tile_quality", tile_quality, METH_VARARGS, "PDQ quality of 64x64 float32 tiles."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_tiles", "C kernels of rempart.signals.regions.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__tiles(void) { return PyModule_Create(&module); }
