// libjpeg reports fatal errors through error_exit, whose default calls exit(). We replace it with a longjmp back
// into the decode function, which returns an error code and libjpeg's message instead. No Swift frame ever sits
// between setjmp and longjmp: Swift calls in, C returns a plain struct.
#include "mpq_jpeg.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int warned;
    // Set once pixels are being decoded: the first warning then stops the decode at once (the caller refuses the
    // image anyway), so a tiny truncated file declaring 16384 x 16384 costs no more than its header.
    int stop_on_warning;
    char warning[JMSG_LENGTH_MAX];
} mpq_error_mgr;

static void mpq_error_exit(j_common_ptr cinfo) {
    mpq_error_mgr *err = (mpq_error_mgr *)cinfo->err;
    longjmp(err->jump, 1);
}

// A truncated file only raises a warning (JWRN_JPEG_EOF) and libjpeg pads the rest with grey; a dataset checker
// must see that, so the first warning is remembered and turned into an error by the caller. Trace messages
// (level > 0) are ignored.
static void mpq_emit_message(j_common_ptr cinfo, int level) {
    mpq_error_mgr *err = (mpq_error_mgr *)cinfo->err;
    if (level < 0 && !err->warned) {
        err->warned = 1;
        (*cinfo->err->format_message)(cinfo, err->warning);
    }
    if (level < 0 && err->stop_on_warning) longjmp(err->jump, 1);
}

static void mpq_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void copy_message(mpq_jpeg_result *r, const char *m) {
    strncpy(r->message, m, sizeof(r->message) - 1);
    r->message[sizeof(r->message) - 1] = 0;
}

// OpenCV's imread converts 4-channel JPEGs with the same integer formula whatever the Adobe transform flag says:
// libjpeg hands back the stored (Adobe-inverted) values and `R = K - ((255 - C) * K >> 8)`, likewise G from M and
// B from Y. Matching it keeps decoded pixels identical to `cv2.imread` for CMYK/YCCK files.
static void cmyk_row_to_rgb(const unsigned char *src, unsigned char *dst, size_t width) {
    for (size_t x = 0; x < width; x++) {
        int c = src[4 * x], m = src[4 * x + 1], y = src[4 * x + 2], k = src[4 * x + 3];
        dst[3 * x] = (unsigned char)(k - (((255 - c) * k) >> 8));
        dst[3 * x + 1] = (unsigned char)(k - (((255 - m) * k) >> 8));
        dst[3 * x + 2] = (unsigned char)(k - (((255 - y) * k) >> 8));
    }
}

static mpq_jpeg_result run(const unsigned char *data, size_t size, int decode, unsigned char *out, size_t capacity,
                           size_t max_pixels) {
    mpq_jpeg_result r;
    memset(&r, 0, sizeof(r));
    if (size == 0 || data == NULL) {
        r.status = MPQ_JPEG_EMPTY;
        copy_message(&r, "empty file");
        return r;
    }
    struct jpeg_decompress_struct cinfo;
    mpq_error_mgr jerr;
    memset(&jerr, 0, sizeof(jerr));
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = mpq_error_exit;
    jerr.pub.emit_message = mpq_emit_message;
    jerr.pub.output_message = mpq_output_message;
    // Only a CMYK file needs scratch memory; volatile because it is modified between setjmp and longjmp.
    unsigned char *volatile scratch = NULL;
    if (setjmp(jerr.jump)) {
        char buf[JMSG_LENGTH_MAX];
        (*cinfo.err->format_message)((j_common_ptr)&cinfo, buf);
        jpeg_destroy_decompress(&cinfo);
        free(scratch);
        r.status = jerr.warned && jerr.stop_on_warning ? MPQ_JPEG_WARNING : MPQ_JPEG_ERROR;
        copy_message(&r, r.status == MPQ_JPEG_WARNING ? jerr.warning : buf);
        return r;
    }
    jpeg_CreateDecompress(&cinfo, JPEG_LIB_VERSION, sizeof(struct jpeg_decompress_struct));
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    r.width = (int)cinfo.image_width;
    r.height = (int)cinfo.image_height;
    r.source_components = cinfo.num_components;
    size_t w = cinfo.image_width, h = cinfo.image_height;
    if (!decode) {
        jpeg_destroy_decompress(&cinfo);
        return r;
    }
    if (jerr.warned) {  // a warning while reading the header: refused like any other, before any buffer is sized
        jpeg_destroy_decompress(&cinfo);
        r.status = MPQ_JPEG_WARNING;
        copy_message(&r, jerr.warning);
        return r;
    }
    if (w * h > max_pixels) {
        jpeg_destroy_decompress(&cinfo);
        r.status = MPQ_JPEG_TOO_LARGE;
        copy_message(&r, "image too large");
        return r;
    }
    if (out == NULL || capacity < w * h * 3) {
        jpeg_destroy_decompress(&cinfo);
        r.status = MPQ_JPEG_NEEDS_BUFFER;
        copy_message(&r, "output buffer too small");
        return r;
    }
    // Same choices as OpenCV's imread: libjpeg's defaults (JDCT_ISLOW, fancy upsampling), RGB out, and 4-channel
    // data fetched as CMYK and converted by hand. Grayscale -> RGB replication is done by libjpeg.
    int four = (cinfo.num_components == 4);
    cinfo.out_color_space = four ? JCS_CMYK : JCS_RGB;
    jerr.stop_on_warning = 1;
    jpeg_start_decompress(&cinfo);
    if (four) {
        scratch = (unsigned char *)malloc(w * 4);
        if (!scratch) {
            jpeg_destroy_decompress(&cinfo);
            r.status = MPQ_JPEG_NO_MEMORY;
            copy_message(&r, "out of memory");
            return r;
        }
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        if (four) {
            JSAMPROW rows[1] = {scratch};
            if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) break;
            cmyk_row_to_rgb(scratch, out + y * w * 3, w);
        } else {
            // Up to 16 rows per call, straight into the caller's buffer (no intermediate copy).
            JSAMPROW rows[16];
            size_t n = h - y < 16 ? h - y : 16;
            for (size_t i = 0; i < n; i++) rows[i] = out + (y + i) * w * 3;
            if (jpeg_read_scanlines(&cinfo, rows, (JDIMENSION)n) == 0) break;
        }
    }
    free(scratch);
    scratch = NULL;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (jerr.warned) {
        r.status = MPQ_JPEG_WARNING;
        copy_message(&r, jerr.warning);
    }
    return r;
}

mpq_jpeg_result mpq_jpeg_read_header(const unsigned char *data, size_t size) {
    return run(data, size, 0, NULL, 0, 0);
}

mpq_jpeg_result mpq_jpeg_decode_rgb(const unsigned char *data, size_t size, unsigned char *out, size_t capacity,
                                    size_t max_pixels) {
    return run(data, size, 1, out, capacity, max_pixels);
}
