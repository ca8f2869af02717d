/* PDQ's reduction of a whole image to its 64x64 buffer and 16x16 DCT, as Meta's reference does it
 * (pdqhashing.cpp through the `pdqhash` package), step for step in the same float operations,
 * so that the hash is the same bits; only the memory order of the work differs.
 *
 * Why: the package computes the luma with NumPy in float64 (five full-size temporaries) and runs
 * the box filters one line at a time, each a chain of dependent float adds; a 1280 x 960 photo,
 * Telegram's usual size, cost 33 ms, more than all its regions. Here the luma is one pass, the
 * filter along columns runs over whole rows at once (the same sum per column, vectorised), the
 * filter along rows runs eight rows side by side (eight independent chains), and the work
 * buffers are reused between calls.
 *
 * The steps, as the reference defines them:
 *   - luma = (0.299 R + 0.587 G) + 0.114 B in double, stored as float;
 *   - unless the image is 64 x 64: two passes of (box filter along rows, window
 *     (cols + 127) / 128, then along columns, window (rows + 127) / 128), each box filter a
 *     running float sum divided by the number of samples in the (edge-clipped) window; then the
 *     64 x 64 samples at ((i + 0.5) * rows / 64, (j + 0.5) * cols / 64), truncated;
 *   - the 16 x 64 then 16 x 16 products with the DCT matrix, float sums over k in order.
 * Compiled with -ffp-contract=off: a fused multiply-add would round differently. The median,
 * the bits, the quality and the reference's zero hash for a side under 5 pixels are left to
 * rempart/signals/pdq.py.
 *
 * Only the CPython buffer protocol is used (no NumPy headers), as in rempart/index/_kernels.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SIDE 64
#define DCT_SIDE 16
#define LANES 8

/* One pair of full-size float buffers is kept between calls (taken and given back atomically;
 * a call that finds it taken allocates its own): freshly allocated, the two buffers of a
 * 1280 x 960 photo cost 2.5 ms of page faults, a third of the hash. Kept up to CACHE_FLOATS
 * floats (two 1280 x 1280 buffers, 13 MB). */
#define CACHE_FLOATS ((size_t)2 * 1280 * 1280)
static float *cached_buffers = NULL;

static float *take_buffers(size_t floats) {
    if (floats <= CACHE_FLOATS) {
        float *found = __atomic_exchange_n(&cached_buffers, NULL, __ATOMIC_ACQ_REL);
        if (found) return found;
        return malloc(CACHE_FLOATS * sizeof(float));
    }
    return malloc(floats * sizeof(float));
}

static void give_back_buffers(float *buffers, size_t floats) {
    if (buffers && floats <= CACHE_FLOATS)
        buffers = __atomic_exchange_n(&cached_buffers, buffers, __ATOMIC_ACQ_REL);
    free(buffers);
}

static int window_size(int dimension) { return (dimension + 2 * SIDE - 1) / (2 * SIDE); }

/* The box filter of `count` samples `in[0], in[step], ...` into `out` (same layout), for `lanes`
 * independent lines side by side: line l starts at in + l * lane_step. With lane_step 1 and
 * step = row length, the lanes are adjacent columns (contiguous: vectorised); with lane_step =
 * row length and step 1, they are rows. Every line gets exactly the reference's sequence of
 * float operations. */
static inline void box_lines(const float *in, float *out, int count, Py_ssize_t step,
                             Py_ssize_t lane_step, int lanes, int window) {
    int half = (window + 2) / 2;
    int phase1 = half - 1, phase2 = window - half + 1, phase3 = count - window,
        phase4 = half - 1;
    float sum[LANES * 64];
    for (int l = 0; l < lanes; l++) sum[l] = 0.0f;
    Py_ssize_t ri = 0, li = 0, oi = 0;
    int current = 0;
    for (int i = 0; i < phase1; i++, ri += step, current++)
        for (int l = 0; l < lanes; l++) sum[l] += in[ri + l * lane_step];
    for (int i = 0; i < phase2; i++, ri += step, oi += step) {
        current++;
        for (int l = 0; l < lanes; l++) {
            sum[l] += in[ri + l * lane_step];
            out[oi + l * lane_step] = sum[l] / (float)current;
        }
    }
    for (int i = 0; i < phase3; i++, ri += step, li += step, oi += step)
        for (int l = 0; l < lanes; l++) {
            sum[l] += in[ri + l * lane_step];
            sum[l] -= in[li + l * lane_step];
            out[oi + l * lane_step] = sum[l] / (float)current;
        }
    for (int i = 0; i < phase4; i++, li += step, oi += step) {
        current--;
        for (int l = 0; l < lanes; l++) {
            sum[l] -= in[li + l * lane_step];
            out[oi + l * lane_step] = sum[l] / (float)current;
        }
    }
}

/* Along rows: LANES rows at a time (the rest one by one). */
static void box_rows(const float *in, float *out, int rows, int cols, int window) {
    int r = 0;
    for (; r + LANES <= rows; r += LANES)
        box_lines(in + (Py_ssize_t)r * cols, out + (Py_ssize_t)r * cols, cols, 1, cols, LANES,
                  window);
    for (; r < rows; r++)
        box_lines(in + (Py_ssize_t)r * cols, out + (Py_ssize_t)r * cols, cols, 1, cols, 1,
                  window);
}

/* Along columns: blocks of LANES * 64 adjacent columns, contiguous in each row. */
__attribute__((target_clones("avx2", "default"))) static void box_cols(
    const float *in, float *out, int rows, int cols, int window) {
    for (int c = 0; c < cols; c += LANES * 64) {
        int lanes = cols - c < LANES * 64 ? cols - c : LANES * 64;
        box_lines(in + c, out + c, rows, cols, 1, lanes, window);
    }
}

/* The reference's luma: each sum in double, stored as float (AVX2: four pixels at a time, the
 * same operations). */
__attribute__((target_clones("avx2", "default"))) static void fill_luma(
    const uint8_t *restrict rgb, float *restrict luma, size_t pixels) {
    for (size_t i = 0; i < pixels; i++)
        luma[i] = (float)((rgb[3 * i] * 0.299 + rgb[3 * i + 1] * 0.587) + rgb[3 * i + 2] * 0.114);
}

/* ---------------------------------------------------------------------------------------------
 * reduce_whole(rgb, height, width, dct, buffer64, dct16)
 *
 * rgb: uint8 (height, width, 3), C-contiguous; dct: float32 (16, 64), PDQ's DCT matrix;
 * buffer64: float32 (64, 64) out; dct16: float32 (16, 16) out.
 */
static PyObject *reduce_whole(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *rgb_obj, *dct_obj, *buffer_obj, *dct16_obj;
    Py_ssize_t height, width;
    if (!PyArg_ParseTuple(args, "OnnOOO", &rgb_obj, &height, &width, &dct_obj, &buffer_obj,
                          &dct16_obj))
        return NULL;
    Py_buffer rgb, dct, buffer, dct16;
    if (PyObject_GetBuffer(rgb_obj, &rgb, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (PyObject_GetBuffer(dct_obj, &dct, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&rgb);
        return NULL;
    }
    if (PyObject_GetBuffer(buffer_obj, &buffer, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&rgb);
        PyBuffer_Release(&dct);
        return NULL;
    }
    if (PyObject_GetBuffer(dct16_obj, &dct16, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&rgb);
        PyBuffer_Release(&dct);
        PyBuffer_Release(&buffer);
        return NULL;
    }
    PyObject *result = NULL;
    float *luma = NULL, *spare = NULL;
    size_t floats = 0;
    if (height < 1 || width < 1 || height > INT32_MAX / width ||
        rgb.len != height * width * 3) {
        PyErr_SetString(PyExc_ValueError, "rgb: expected height x width x 3 uint8 values");
        goto done;
    }
    if (dct.len != DCT_SIDE * SIDE * (Py_ssize_t)sizeof(float) ||
        buffer.len != SIDE * SIDE * (Py_ssize_t)sizeof(float) ||
        dct16.len != DCT_SIDE * DCT_SIDE * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "dct: (16, 64), buffer64: (64, 64), dct16: (16, 16)");
        goto done;
    }
    size_t pixels = (size_t)height * (size_t)width;
    floats = 2 * pixels;
    luma = take_buffers(floats);
    if (!luma) {
        PyErr_NoMemory();
        goto done;
    }
    spare = luma + pixels;
    int rows = (int)height, cols = (int)width;
    Py_BEGIN_ALLOW_THREADS;
    fill_luma(rgb.buf, luma, pixels);
    float *out64 = buffer.buf;
    if (rows == SIDE && cols == SIDE) {
        memcpy(out64, luma, SIDE * SIDE * sizeof(float));
    } else {
        int along_rows = window_size(cols), along_cols = window_size(rows);
        for (int pass = 0; pass < 2; pass++) {
            box_rows(luma, spare, rows, cols, along_rows);
            box_cols(spare, luma, rows, cols, along_cols);
        }
        for (int i = 0; i < SIDE; i++) {
            int in_i = (int)(((i + 0.5) * rows) / SIDE);
            for (int j = 0; j < SIDE; j++) {
                int in_j = (int)(((j + 0.5) * cols) / SIDE);
                out64[i * SIDE + j] = luma[(size_t)in_i * cols + in_j];
            }
        }
    }
    const float *d = dct.buf;
    float partial[DCT_SIDE][SIDE];
    for (int i = 0; i < DCT_SIDE; i++)
        for (int j = 0; j < SIDE; j++) {
            float sum = 0.0f;
            for (int k = 0; k < SIDE; k++) sum += d[i * SIDE + k] * out64[k * SIDE + j];
            partial[i][j] = sum;
        }
    float *out16 = dct16.buf;
    for (int i = 0; i < DCT_SIDE; i++)
        for (int j = 0; j < DCT_SIDE; j++) {
            float sum = 0.0f;
            for (int k = 0; k < SIDE; k++) sum += partial[i][k] * d[j * SIDE + k];
            out16[i * DCT_SIDE + j] = sum;
        }
    Py_END_ALLOW_THREADS;
    result = Py_None;
    Py_INCREF(result);
done:
    give_back_buffers(luma, floats);
    PyBuffer_Release(&rgb);
    PyBuffer_Release(&dct);
    PyBuffer_Release(&buffer);
    PyBuffer_Release(&dct16);
    return result;
}

static PyMethodDef methods[] = {
    {"reduce_whole", reduce_whole, METH_VARARGS, "PDQ's 64x64 buffer and 16x16 DCT of an image."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pdq", "PDQ's whole-image reduction, as the reference computes it.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__pdq(void) { return PyModule_Create(&module); }
