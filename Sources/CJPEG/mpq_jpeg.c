// libjpeg reports fatal errors through error_exit, whose default calls exit(). We replace it with a longjmp back
// into the decode function, which returns an error code and libjpeg's message instead.
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
    char warning[JMSG_LENGTH_MAX];
} mpq_error_mgr;

static void mpq_error_exit(j_common_ptr cinfo) {
    mpq_error_mgr *err = (mpq_error_mgr *)cinfo->err;
    longjmp(err->jump, 1);
}

// A truncated file only raises a warning (JWRN_JPEG_EOF) and libjpeg pads the rest with grey; a dataset checker
// must see that, so the first warning is remembered and turned into an error by the caller.
static void mpq_emit_message(j_common_ptr cinfo, int level) {
    mpq_error_mgr *err = (mpq_error_mgr *)cinfo->err;
    if (level < 0 && !err->warned) {
        err->warned = 1;
        (*cinfo->err->format_message)(cinfo, err->warning);
    }
}

static void mpq_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void copy_message(mpq_jpeg_result *r, const char *m) {
    strncpy(r->message, m, sizeof(r->message) - 1);
    r->message[sizeof(r->message) - 1] = 0;
}

static mpq_jpeg_result run(const unsigned char *data, size_t size, int decode) {
    mpq_jpeg_result r;
    memset(&r, 0, sizeof(r));
    if (size == 0 || data == NULL) {
        r.status = 1;
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
    unsigned char *volatile pixels = NULL;
    if (setjmp(jerr.jump)) {
        char buf[JMSG_LENGTH_MAX];
        (*cinfo.err->format_message)((j_common_ptr)&cinfo, buf);
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        r.status = 2;
        r.pixels = NULL;
        copy_message(&r, buf);
        return r;
    }
    jpeg_CreateDecompress(&cinfo, JPEG_LIB_VERSION, sizeof(struct jpeg_decompress_struct));
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    r.width = (int)cinfo.image_width;
    r.height = (int)cinfo.image_height;
    r.source_components = cinfo.num_components;
    if (!decode) {
        jpeg_destroy_decompress(&cinfo);
        return r;
    }
    int cmyk = (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK);
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    size_t w = cinfo.output_width, h = cinfo.output_height, comps = (size_t)cinfo.output_components;
    pixels = (unsigned char *)malloc(w * h * 3);
    unsigned char *row = (unsigned char *)malloc(w * comps);
    if (!pixels || !row) {
        free(row);
        free(pixels);
        jpeg_destroy_decompress(&cinfo);
        r.status = 3;
        copy_message(&r, "out of memory");
        return r;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW rows[1] = {row};
        jpeg_read_scanlines(&cinfo, rows, 1);
        unsigned char *dst = pixels + y * w * 3;
        if (comps == 3) {
            memcpy(dst, row, w * 3);
        } else {
            // Adobe writes inverted CMYK (the common case in the wild, and what libjpeg hands back for it);
            // R = C*K/255 etc. on the stored values, the same conversion OpenCV applies.
            for (size_t x = 0; x < w; x++) {
                unsigned c = row[4 * x], m = row[4 * x + 1], yy = row[4 * x + 2], k = row[4 * x + 3];
                dst[3 * x] = (unsigned char)((c * k + 127) / 255);
                dst[3 * x + 1] = (unsigned char)((m * k + 127) / 255);
                dst[3 * x + 2] = (unsigned char)((yy * k + 127) / 255);
            }
        }
    }
    free(row);
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (jerr.warned) {
        free(pixels);
        r.status = 4;
        copy_message(&r, jerr.warning);
        return r;
    }
    r.pixels = pixels;
    return r;
}

mpq_jpeg_result mpq_jpeg_read_header(const unsigned char *data, size_t size) { return run(data, size, 0); }
mpq_jpeg_result mpq_jpeg_decode(const unsigned char *data, size_t size) { return run(data, size, 1); }
void mpq_jpeg_free(unsigned char *pixels) { free(pixels); }
