#ifndef MPQ_JPEG_H
#define MPQ_JPEG_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Outcome codes of the decoder (`mpq_jpeg_result.status`).
enum {
    MPQ_JPEG_OK = 0,
    MPQ_JPEG_EMPTY = 1,         /* no bytes at all */
    MPQ_JPEG_ERROR = 2,         /* libjpeg's fatal error (message set) */
    MPQ_JPEG_NO_MEMORY = 3,
    MPQ_JPEG_WARNING = 4,       /* libjpeg warned (e.g. premature end of data): treated as corrupt */
    MPQ_JPEG_NEEDS_BUFFER = 5,  /* the caller's buffer is smaller than width*height*3 (sizes set) */
    MPQ_JPEG_TOO_LARGE = 6      /* more pixels than the caller allows */
};

/// Result of the decoder. `width`/`height`/`source_components` are set once the header has been read;
/// on failure `message` holds libjpeg's own description of the problem (or ours).
typedef struct {
    int status;
    int width;
    int height;
    int source_components;   /* 1 = grayscale, 3 = YCbCr/RGB, 4 = CMYK/YCCK */
    char message[200];
} mpq_jpeg_result;

/// Reads only the header (dimensions, components). Never calls exit().
mpq_jpeg_result mpq_jpeg_read_header(const unsigned char *data, size_t size);

/// Decodes a whole JPEG held in memory to interleaved 8-bit RGB, written straight into `out`
/// (`height` rows of `width * 3` bytes). If `capacity < width * height * 3` nothing is decoded and the status is
/// `MPQ_JPEG_NEEDS_BUFFER` with the sizes filled in, so the caller can grow its buffer and call again.
/// Images with more than `max_pixels` pixels are refused (`MPQ_JPEG_TOO_LARGE`) before any allocation.
/// Grayscale comes back with R = G = B; 4-channel (CMYK/YCCK) data is converted the way OpenCV's imread does.
/// libjpeg's fatal errors (and, by design here, its warnings such as premature end of data) come back as a
/// non-zero status instead of calling exit() or padding the image silently.
mpq_jpeg_result mpq_jpeg_decode_rgb(const unsigned char *data, size_t size, unsigned char *out, size_t capacity,
                                    size_t max_pixels);

#ifdef __cplusplus
}
#endif
#endif
