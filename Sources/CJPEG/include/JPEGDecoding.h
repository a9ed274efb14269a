#ifndef SALIENT_JPEG_DECODING_H
#define SALIENT_JPEG_DECODING_H

#include <stddef.h>

/// JPEG decoding through libjpeg-turbo's libjpeg API, which (unlike TurboJPEG's) says which
/// warning it raises: a warning that means image data is missing or was replaced (a scan that
/// ends early, a damaged Huffman code, a lost restart marker, a file that stops before its end
/// marker) ends the decode as corrupt, where TurboJPEG fills the missing blocks with gray and
/// goes on decoding a picture that is not there.
///
/// libjpeg reports errors by longjmp; it stays inside these C functions, never crossing Swift
/// frames.

/// The outcome of a call.
typedef enum {
    SALIENT_JPEG_OK = 0,
    /// An error, or a warning that means image data is missing or was replaced.
    SALIENT_JPEG_CORRUPT = 1,
    /// The decode would need more coefficient memory or more scans than allowed.
    SALIENT_JPEG_TOO_LARGE = 2,
} salient_jpeg_status;

/// What the headers declare, read without decoding any scan.
typedef struct {
    int width;
    int height;
    /// Samples per decoded pixel: 1 (grayscale), 3 (RGB) or 4 (CMYK, from CMYK or YCCK files).
    int output_components;
    /// Whether the file stores CMYK or YCCK (Adobe files store inverted CMYK).
    int is_cmyk;
    /// Whether decoding keeps every DCT coefficient until the last scan (progressive files,
    /// and sequential files whose components come in separate scans).
    int multiple_scans;
    /// The bytes of those coefficients (0 for single-scan files): memory the decoder needs
    /// whatever the scale.
    size_t coefficient_bytes;
} salient_jpeg_header;

/// Reads the headers up to the first scan. `message` receives a reason on failure.
salient_jpeg_status salient_jpeg_read_header(const unsigned char *data, size_t size, salient_jpeg_header *header,
                                             char *message, size_t message_capacity);

/// Decodes the image scaled by 1/`scale_denominator` (1, 2, 4 or 8) into `output`, rows top to
/// bottom with `output_components` samples per pixel; `output_width` and `output_height` must be
/// the scaled size (the sides divided by the denominator, rounded up). The decoder may hold at
/// most `max_memory` bytes of coefficients and read at most `max_scans` scans.
salient_jpeg_status salient_jpeg_decode(const unsigned char *data, size_t size, int scale_denominator,
                                        size_t max_memory, int max_scans, unsigned char *output,
                                        int output_width, int output_height, int output_components,
                                        char *message, size_t message_capacity);

#endif
