#ifndef MPQ_JPEG_H
#define MPQ_JPEG_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Result of `mpq_jpeg_decode`. On success `status == 0` and `pixels` holds width*height*3 bytes of
/// interleaved 8-bit RGB (free with `mpq_jpeg_free`). On failure `status != 0`, `pixels` is NULL and
/// `message` holds libjpeg's own description of the problem.
typedef struct {
    int status;
    int width;
    int height;
    int source_components;   /* 1 = grayscale, 3 = YCbCr/RGB, 4 = CMYK/YCCK */
    unsigned char *pixels;
    char message[200];
} mpq_jpeg_result;

/// Reads only the header (dimensions, components). Never calls exit().
mpq_jpeg_result mpq_jpeg_read_header(const unsigned char *data, size_t size);

/// Decodes a whole JPEG held in memory to RGB. libjpeg's fatal errors (and, by design here, its warnings about
/// premature end of data) come back as a non-zero status instead of calling exit().
mpq_jpeg_result mpq_jpeg_decode(const unsigned char *data, size_t size);

void mpq_jpeg_free(unsigned char *pixels);

#ifdef __cplusplus
}
#endif
#endif
