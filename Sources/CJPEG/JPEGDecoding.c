#include "JPEGDecoding.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/// libjpeg's error manager, extended with where to jump and what to report.
typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf escape;
    salient_jpeg_status status;
    char *message;
    size_t capacity;
} error_manager;

/// Counts scans as they are read, so that a progressive file of thousands of tiny scans (a CPU
/// bomb: each scan makes the decoder walk every coefficient) is refused.
typedef struct {
    struct jpeg_progress_mgr base;
    int max_scans;
} scan_limit;

static void record(j_common_ptr info, salient_jpeg_status status, const char *text) {
    error_manager *errors = (error_manager *)info->err;
    errors->status = status;
    if (errors->capacity > 0) snprintf(errors->message, errors->capacity, "%s", text);
}

static void record_libjpeg_message(j_common_ptr info, salient_jpeg_status status) {
    char text[JMSG_LENGTH_MAX];
    (*info->err->format_message)(info, text);
    record(info, status, text);
}

static void fail(j_common_ptr info) {
    error_manager *errors = (error_manager *)info->err;
    // libjpeg holds coefficients in memory only; past `max_memory_to_use` it asks for a backing
    // store, which this build does not have.
    if (info->err->msg_code == JERR_NO_BACKING_STORE) {
        char text[160];
        snprintf(text, sizeof text, "decoding needs more than %ld bytes of coefficient memory",
                 info->mem->max_memory_to_use);
        record(info, SALIENT_JPEG_TOO_LARGE, text);
    } else {
        record_libjpeg_message(info, SALIENT_JPEG_CORRUPT);
    }
    longjmp(errors->escape, 1);
}

/// Warnings that leave every pixel as the file defines it: stray bytes between markers (which
/// some cameras write and Pillow accepts), an unknown JFIF or Adobe revision, a damaged ICC
/// profile (never used here), scan parameters a sequential file should not carry.
static int is_harmless(int code) {
    switch (code) {
    case JWRN_EXTRANEOUS_DATA:
    case JWRN_JFIF_MAJOR:
    case JWRN_ADOBE_XFORM:
    case JWRN_BOGUS_ICC:
    case JWRN_NOT_SEQUENTIAL:
        return 1;
    default:
        return 0;
    }
}

/// Every other warning (premature end of data, bad Huffman or arithmetic code, lost restart
/// marker, inconsistent progression, end of file before the end marker) ends the decode.
static void emit(j_common_ptr info, int level) {
    if (level >= 0 || is_harmless(info->err->msg_code)) return;
    error_manager *errors = (error_manager *)info->err;
    record_libjpeg_message(info, SALIENT_JPEG_CORRUPT);
    longjmp(errors->escape, 1);
}

static void count_scans(j_common_ptr info) {
    scan_limit *limit = (scan_limit *)info->progress;
    j_decompress_ptr decompress = (j_decompress_ptr)info;
    if (decompress->input_scan_number > limit->max_scans) {
        char text[120];
        snprintf(text, sizeof text, "the JPEG has more than %d scans", limit->max_scans);
        record(info, SALIENT_JPEG_TOO_LARGE, text);
        longjmp(((error_manager *)info->err)->escape, 1);
    }
}

static void prepare(struct jpeg_decompress_struct *info, error_manager *errors, char *message, size_t capacity) {
    info->err = jpeg_std_error(&errors->base);
    errors->base.error_exit = fail;
    errors->base.emit_message = emit;
    errors->status = SALIENT_JPEG_OK;
    errors->message = message;
    errors->capacity = capacity;
    if (capacity > 0) message[0] = 0;
}

static J_COLOR_SPACE output_space(J_COLOR_SPACE stored) {
    switch (stored) {
    case JCS_GRAYSCALE: return JCS_GRAYSCALE;
    case JCS_CMYK:
    case JCS_YCCK: return JCS_CMYK;
    default: return JCS_RGB;
    }
}

salient_jpeg_status salient_jpeg_read_header(const unsigned char *data, size_t size, salient_jpeg_header *header,
                                             char *message, size_t message_capacity) {
    struct jpeg_decompress_struct info;
    error_manager errors;
    prepare(&info, &errors, message, message_capacity);
    if (setjmp(errors.escape)) {
        jpeg_destroy_decompress(&info);
        return errors.status;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);

    J_COLOR_SPACE space = output_space(info.jpeg_color_space);
    header->width = (int)info.image_width;
    header->height = (int)info.image_height;
    header->output_components = space == JCS_GRAYSCALE ? 1 : space == JCS_CMYK ? 4 : 3;
    header->is_cmyk = space == JCS_CMYK;
    header->multiple_scans = jpeg_has_multiple_scans(&info) ? 1 : 0;
    header->coefficient_bytes = 0;
    if (header->multiple_scans) {
        // What jdcoefct.c allocates: every block of every component, rows rounded up to the
        // component's sampling factor.
        for (int c = 0; c < info.num_components; c++) {
            jpeg_component_info *component = &info.comp_info[c];
            size_t rows = (component->height_in_blocks + component->v_samp_factor - 1)
                / component->v_samp_factor * component->v_samp_factor;
            size_t columns = (component->width_in_blocks + component->h_samp_factor - 1)
                / component->h_samp_factor * component->h_samp_factor;
            header->coefficient_bytes += rows * columns * sizeof(JBLOCK);
        }
    }
    jpeg_destroy_decompress(&info);
    return SALIENT_JPEG_OK;
}

salient_jpeg_status salient_jpeg_decode(const unsigned char *data, size_t size, int scale_denominator,
                                        size_t max_memory, int max_scans, unsigned char *output,
                                        int output_width, int output_height, int output_components,
                                        char *message, size_t message_capacity) {
    struct jpeg_decompress_struct info;
    error_manager errors;
    scan_limit limit;
    prepare(&info, &errors, message, message_capacity);
    if (setjmp(errors.escape)) {
        jpeg_destroy_decompress(&info);
        return errors.status;
    }
    jpeg_create_decompress(&info);
    info.mem->max_memory_to_use = (long)max_memory;
    limit.base.progress_monitor = count_scans;
    limit.max_scans = max_scans;
    info.progress = &limit.base;
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);

    info.out_color_space = output_space(info.jpeg_color_space);
    info.scale_num = 1;
    info.scale_denom = (unsigned int)scale_denominator;
    jpeg_calc_output_dimensions(&info);
    if ((int)info.output_width != output_width || (int)info.output_height != output_height
        || info.output_components != output_components) {
        char text[160];
        snprintf(text, sizeof text, "the decoder would give %ux%u with %d components, not %dx%d with %d",
                 info.output_width, info.output_height, info.output_components,
                 output_width, output_height, output_components);
        record((j_common_ptr)&info, SALIENT_JPEG_CORRUPT, text);
        jpeg_destroy_decompress(&info);
        return SALIENT_JPEG_CORRUPT;
    }
    jpeg_start_decompress(&info);
    size_t stride = (size_t)output_width * (size_t)output_components;
    while (info.output_scanline < info.output_height) {
        JSAMPROW rows[4];
        int count = 0;
        for (; count < 4 && info.output_scanline + (unsigned int)count < info.output_height; count++) {
            rows[count] = output + (size_t)(info.output_scanline + (unsigned int)count) * stride;
        }
        jpeg_read_scanlines(&info, rows, (JDIMENSION)count);
    }
    // Reads on to the end marker, so that a file cut after its last row is refused too.
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    return SALIENT_JPEG_OK;
}
