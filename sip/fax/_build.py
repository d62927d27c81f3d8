"""cffi (API, out-of-line) builder for the SpanDSP 0.0.6 binding.

Run by setuptools at install time (``cffi_modules`` in setup.py); it produces ``sip.fax._spandsp``.
Only what the gateway uses is declared.  Constants and the layout of ``t30_stats_t`` come from the
real headers at compile time (``...``), so a mismatch with Debian's libspandsp is a build error,
not a silent crash.  libtiff is declared too: TIFF-F files are written through the same libtiff
that SpanDSP reads them with (Pillow cannot write MinIsWhite G4 correctly).
"""

from __future__ import annotations

import os
import sys

from cffi import FFI

#: Where Debian puts spandsp.h and tiffio.h (multiarch include dir) besides the usual places.
INCLUDE_DIRS = ["/usr/include/x86_64-linux-gnu", "/usr/include/aarch64-linux-gnu", "/usr/include"]

CDEF = r"""
typedef struct fax_state_s fax_state_t;
typedef struct t30_state_s t30_state_t;
typedef struct logging_state_s logging_state_t;
typedef struct t38_core_state_s t38_core_state_t;
typedef struct t38_terminal_state_s t38_terminal_state_t;
typedef struct t38_gateway_state_s t38_gateway_state_t;
typedef struct g711_state_s g711_state_t;

typedef struct {
    int bit_rate; int error_correcting_mode; int pages_tx; int pages_rx; int pages_in_file;
    int x_resolution; int y_resolution; int width; int length; int image_size; int encoding;
    int bad_rows; int longest_bad_row_run; int error_correcting_mode_retries; int current_status;
    ...;
} t30_stats_t;
typedef struct { int bit_rate; int error_correcting_mode; int pages_transferred; ...; } t38_stats_t;

typedef int  (t30_phase_b_handler_t)(t30_state_t *s, void *user_data, int result);
typedef int  (t30_phase_d_handler_t)(t30_state_t *s, void *user_data, int result);
typedef void (t30_phase_e_handler_t)(t30_state_t *s, void *user_data, int completion_code);
typedef int  (t30_document_handler_t)(t30_state_t *s, void *user_data, int status);
typedef void (t30_real_time_frame_handler_t)(t30_state_t *s, void *user_data, int direction,
                                             const uint8_t msg[], int len);
typedef int  (t38_tx_packet_handler_t)(t38_core_state_t *s, void *user_data, const uint8_t *buf,
                                       int len, int count);
typedef void (*message_handler_func_t)(int level, const char *text);
typedef void (*error_handler_func_t)(const char *text);

/* logging */
#define SPAN_LOG_SHOW_SEVERITY ...
#define SPAN_LOG_SHOW_PROTOCOL ...
#define SPAN_LOG_SHOW_TAG ...
#define SPAN_LOG_NONE ...
#define SPAN_LOG_ERROR ...
#define SPAN_LOG_WARNING ...
#define SPAN_LOG_PROTOCOL_ERROR ...
#define SPAN_LOG_PROTOCOL_WARNING ...
#define SPAN_LOG_FLOW ...
#define SPAN_LOG_DEBUG ...
int span_log_set_level(logging_state_t *s, int level);
int span_log_set_tag(logging_state_t *s, const char *tag);
void span_log_set_message_handler(logging_state_t *s, message_handler_func_t func);
void span_log_set_error_handler(logging_state_t *s, error_handler_func_t func);

/* audio fax terminal */
fax_state_t *fax_init(fax_state_t *s, int calling_party);
int fax_free(fax_state_t *s);
int fax_rx(fax_state_t *s, int16_t *amp, int len);
int fax_rx_fillin(fax_state_t *s, int len);
int fax_tx(fax_state_t *s, int16_t *amp, int max_len);
void fax_set_transmit_on_idle(fax_state_t *s, int transmit_on_idle);
t30_state_t *fax_get_t30_state(fax_state_t *s);
logging_state_t *fax_get_logging_state(fax_state_t *s);

/* T.30 */
#define T30_ERR_OK ...
#define T30_ERR_CALLDROPPED ...
#define T30_SUPPORT_V27TER ...
#define T30_SUPPORT_V29 ...
#define T30_SUPPORT_V17 ...
#define T30_SUPPORT_T4_1D_COMPRESSION ...
#define T30_SUPPORT_T4_2D_COMPRESSION ...
#define T30_SUPPORT_T6_COMPRESSION ...
#define T30_SUPPORT_STANDARD_RESOLUTION ...
#define T30_SUPPORT_FINE_RESOLUTION ...
#define T30_SUPPORT_SUPERFINE_RESOLUTION ...
#define T30_SUPPORT_R8_RESOLUTION ...
#define T30_SUPPORT_R16_RESOLUTION ...
#define T30_SUPPORT_215MM_WIDTH ...
#define T30_SUPPORT_UNLIMITED_LENGTH ...
#define T30_SUPPORT_A4_LENGTH ...
#define T30_SUPPORT_US_LETTER_LENGTH ...
#define T30_SUPPORT_US_LEGAL_LENGTH ...
#define T30_SUPPORT_B4_LENGTH ...
#define T4_COMPRESSION_ITU_T4_1D ...
#define T4_COMPRESSION_ITU_T4_2D ...
#define T4_COMPRESSION_ITU_T6 ...
#define T30_CFR ...
int t30_set_tx_ident(t30_state_t *s, const char *id);
const char *t30_get_rx_ident(t30_state_t *s);
int t30_set_tx_page_header_info(t30_state_t *s, const char *info);
void t30_set_rx_file(t30_state_t *s, const char *file, int stop_page);
void t30_set_tx_file(t30_state_t *s, const char *file, int start_page, int stop_page);
int t30_set_ecm_capability(t30_state_t *s, int enabled);
int t30_set_rx_encoding(t30_state_t *s, int encoding);
int t30_set_supported_modems(t30_state_t *s, int supported_modems);
int t30_set_supported_compressions(t30_state_t *s, int supported_compressions);
int t30_set_supported_resolutions(t30_state_t *s, int supported_resolutions);
int t30_set_supported_image_sizes(t30_state_t *s, int supported_image_sizes);
void t30_set_phase_b_handler(t30_state_t *s, t30_phase_b_handler_t *handler, void *user_data);
void t30_set_phase_d_handler(t30_state_t *s, t30_phase_d_handler_t *handler, void *user_data);
void t30_set_phase_e_handler(t30_state_t *s, t30_phase_e_handler_t *handler, void *user_data);
void t30_set_real_time_frame_handler(t30_state_t *s, t30_real_time_frame_handler_t *handler,
                                     void *user_data);
logging_state_t *t30_get_logging_state(t30_state_t *s);
void t30_get_transfer_statistics(t30_state_t *s, t30_stats_t *t);
void t30_terminate(t30_state_t *s);
const char *t30_completion_code_to_str(int result);
const char *t4_encoding_to_str(int encoding);

/* T.38 */
#define T38_TERMINAL_OPTION_NO_PACING ...
int t38_core_rx_ifp_packet(t38_core_state_t *s, const uint8_t *buf, int len, uint16_t seq_no);
void t38_set_t38_version(t38_core_state_t *s, int t38_version);
void t38_set_max_datagram_size(t38_core_state_t *s, int max_datagram_size);
void t38_set_fastest_image_data_rate(t38_core_state_t *s, int max_rate);
logging_state_t *t38_core_get_logging_state(t38_core_state_t *s);
t38_terminal_state_t *t38_terminal_init(t38_terminal_state_t *s, int calling_party,
                                        t38_tx_packet_handler_t *tx_packet_handler, void *user_data);
int t38_terminal_free(t38_terminal_state_t *s);
int t38_terminal_send_timeout(t38_terminal_state_t *s, int samples);
void t38_terminal_set_config(t38_terminal_state_t *s, int config);
t30_state_t *t38_terminal_get_t30_state(t38_terminal_state_t *s);
t38_core_state_t *t38_terminal_get_t38_core_state(t38_terminal_state_t *s);
logging_state_t *t38_terminal_get_logging_state(t38_terminal_state_t *s);
t38_gateway_state_t *t38_gateway_init(t38_gateway_state_t *s, t38_tx_packet_handler_t *handler,
                                      void *user_data);
int t38_gateway_free(t38_gateway_state_t *s);
int t38_gateway_rx(t38_gateway_state_t *s, int16_t amp[], int len);
int t38_gateway_tx(t38_gateway_state_t *s, int16_t amp[], int max_len);
void t38_gateway_set_ecm_capability(t38_gateway_state_t *s, int ecm_allowed);
void t38_gateway_set_transmit_on_idle(t38_gateway_state_t *s, int transmit_on_idle);
void t38_gateway_set_supported_modems(t38_gateway_state_t *s, int supported_modems);
void t38_gateway_get_transfer_statistics(t38_gateway_state_t *s, t38_stats_t *t);
t38_core_state_t *t38_gateway_get_t38_core_state(t38_gateway_state_t *s);
logging_state_t *t38_gateway_get_logging_state(t38_gateway_state_t *s);

/* G.711 */
#define G711_ALAW ...
#define G711_ULAW ...
g711_state_t *g711_init(g711_state_t *s, int mode);
int g711_free(g711_state_t *s);
int g711_encode(g711_state_t *s, uint8_t g711_data[], const int16_t amp[], int len);
int g711_decode(g711_state_t *s, int16_t amp[], const uint8_t g711_data[], int g711_bytes);

/* libtiff: writing TIFF-F */
typedef struct tiff TIFF;
typedef int... tmsize_t;
#define TIFFTAG_SUBFILETYPE ...
#define FILETYPE_PAGE ...
#define TIFFTAG_IMAGEWIDTH ...
#define TIFFTAG_IMAGELENGTH ...
#define TIFFTAG_BITSPERSAMPLE ...
#define TIFFTAG_SAMPLESPERPIXEL ...
#define TIFFTAG_COMPRESSION ...
#define COMPRESSION_CCITTFAX3 ...
#define COMPRESSION_CCITTFAX4 ...
#define TIFFTAG_GROUP3OPTIONS ...
#define GROUP3OPT_2DENCODING ...
#define TIFFTAG_PHOTOMETRIC ...
#define PHOTOMETRIC_MINISWHITE ...
#define TIFFTAG_FILLORDER ...
#define FILLORDER_MSB2LSB ...
#define TIFFTAG_XRESOLUTION ...
#define TIFFTAG_YRESOLUTION ...
#define TIFFTAG_RESOLUTIONUNIT ...
#define RESUNIT_INCH ...
#define TIFFTAG_ROWSPERSTRIP ...
#define TIFFTAG_PAGENUMBER ...
#define TIFFTAG_SOFTWARE ...
TIFF *TIFFOpen(const char *name, const char *mode);
int TIFFSetField(TIFF *tif, uint32_t tag, ...);
int TIFFGetFieldDefaulted(TIFF *tif, uint32_t tag, ...);
uint32_t TIFFNumberOfStrips(TIFF *tif);
tmsize_t TIFFRawStripSize(TIFF *tif, uint32_t strip);
tmsize_t TIFFReadRawStrip(TIFF *tif, uint32_t strip, void *buf, tmsize_t size);
tmsize_t TIFFWriteRawStrip(TIFF *tif, uint32_t strip, void *data, tmsize_t cc);
tmsize_t TIFFWriteEncodedStrip(TIFF *tif, uint32_t strip, void *data, tmsize_t cc);
int TIFFWriteDirectory(TIFF *tif);
void TIFFClose(TIFF *tif);

/* Python callbacks (extern "Python": no libffi closures, nothing to keep alive but the handle) */
extern "Python" int  _on_phase_b(t30_state_t *, void *, int);
extern "Python" int  _on_phase_d(t30_state_t *, void *, int);
extern "Python" void _on_phase_e(t30_state_t *, void *, int);
extern "Python" void _on_frame(t30_state_t *, void *, int, const uint8_t *, int);
extern "Python" int  _on_t38_packet(t38_core_state_t *, void *, const uint8_t *, int, int);
extern "Python" void _on_log_message(int, const char *);
extern "Python" void _on_log_error(const char *);
"""

SOURCE = "#include <spandsp.h>\n"


def _find_header(name: str) -> str | None:
    for directory in INCLUDE_DIRS:
        if os.path.exists(os.path.join(directory, name)):
            return directory
    return None


def _require_headers() -> None:
    missing = [
        pkg
        for header, pkg in (("spandsp.h", "libspandsp-dev"), ("tiffio.h", "libtiff-dev"))
        if _find_header(header) is None
    ]
    if missing:
        sys.exit(
            "SpanDSP binding cannot be built: headers not found for "
            + ", ".join(missing)
            + ". Install them first: apt-get install "
            + " ".join(missing)
        )


_require_headers()
ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "faxgw.sip.fax._spandsp",
    SOURCE,
    libraries=["spandsp", "tiff"],
    include_dirs=[d for d in INCLUDE_DIRS if os.path.isdir(d)],
    # A callback declared with the wrong type is a crash waiting to happen: make it a build error.
    extra_compile_args=["-O2", "-Werror=incompatible-pointer-types"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
