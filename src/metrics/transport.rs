//! Metrics of how players reach the edge: TLS handshakes, certificates and
//! their rotation, HTTP versions, playlist compression, and bodies sent from
//! sealed files. Part of
//! `metrics` (one place names every metric); labels are listen addresses
//! and certificate names from the config, and small fixed sets.

use once_cell::sync::Lazy;
use prometheus::{
    register_gauge_vec, register_histogram, register_int_counter, register_int_counter_vec,
    register_int_gauge, register_int_gauge_vec, GaugeVec, Histogram, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec,
};

/// Completed TLS handshakes by listener and TLS version.
pub static TLS_HANDSHAKES: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_tls_handshakes_total",
        "Completed TLS handshakes, by listener and TLS version",
        &["listener", "version"]
    )
    .expect("metric names are unique")
});

/// Handshakes whose SNI named no configured certificate (served the
/// listener's first one): a name missing from the certificates.
pub static TLS_SNI_UNMATCHED: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_tls_sni_unmatched_total",
        "TLS handshakes whose SNI matched no certificate (the listener's first was served)",
        &["listener"]
    )
    .expect("metric names are unique")
});

/// When each served certificate expires (Unix seconds): alert on
/// `hls_edge_tls_certificate_expiry_timestamp_seconds - time() < 14 * 86400`.
pub static TLS_CERT_EXPIRY: Lazy<GaugeVec> = Lazy::new(|| {
    register_gauge_vec!(
        "hls_edge_tls_certificate_expiry_timestamp_seconds",
        "End of validity of each served certificate, by listener and certificate name",
        &["listener", "certificate"]
    )
    .expect("metric names are unique")
});

/// Certificate reloads (SIGHUP) by result (`ok`, `error`).
pub static TLS_RELOADS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_tls_reloads_total",
        "Certificate reloads of a TLS listener, by result",
        &["listener", "result"]
    )
    .expect("metric names are unique")
});

/// Requests by the HTTP version the player spoke: `h1` (HTTP/1.x), `h2`.
pub static REQUESTS_BY_PROTOCOL: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_requests_by_protocol_total",
        "Requests answered, by the HTTP version of the client connection (h1, h2)",
        &["protocol"]
    )
    .expect("metric names are unique")
});

/// `REQUESTS_BY_PROTOCOL{protocol="h1"}` and `{protocol="h2"}`, resolved once
/// (one of them is counted on every request).
pub static H1_REQUESTS: Lazy<IntCounter> =
    Lazy::new(|| REQUESTS_BY_PROTOCOL.with_label_values(&["h1"]));
pub static H2_REQUESTS: Lazy<IntCounter> =
    Lazy::new(|| REQUESTS_BY_PROTOCOL.with_label_values(&["h2"]));

/// Playlist responses sent compressed, by content coding (`gzip`, `br`, `zstd`).
pub static COMPRESSED_RESPONSES: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_compressed_responses_total",
        "Responses sent with a content coding applied by the edge, by coding",
        &["encoding"]
    )
    .expect("metric names are unique")
});

/// Bytes into and out of the compressor, by coding and side (`in`, `out`).
pub static COMPRESSION_BYTES: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_compression_bytes_total",
        "Body bytes before (in) and after (out) the edge compressed them, by coding",
        &["encoding", "side"]
    )
    .expect("metric names are unique")
});

/// Stored bodies held in sealed memory files (`sealed`).
pub static SEALED_BODIES: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "hls_edge_sealed_bodies",
        "Stored bodies held in sealed memory files for sendfile"
    )
    .expect("metric names are unique")
});

/// Sealed memory files open (`sealed`): a body's own, or a sheet of bodies
/// packed together; one open file each.
pub static SEALED_FILES: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "hls_edge_sealed_files",
        "Sealed memory files holding stored bodies (one open file each)"
    )
    .expect("metric names are unique")
});

/// 2 MiB runs of sealed files the kernel gave one huge page (`huge`) or left
/// on 4 KiB pages (`small`).
pub static SEALED_HUGE_RUNS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_sealed_huge_runs_total",
        "2 MiB runs of sealed memory files given a huge page or left on 4 KiB pages, by result",
        &["result"]
    )
    .expect("metric names are unique")
});

/// Memory of the sheets bodies under 2 MiB are packed in: the live bodies'
/// bytes (`bodies`), the sheet made ahead of need (`spare`), and the rest
/// (`slack`: dropped bodies, unused ends).
pub static SEALED_SHEET_BYTES: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "hls_edge_sealed_sheet_bytes",
        "Memory of the sheets stored bodies under 2 MiB are packed in, by part (bodies, spare, slack)",
        &["part"]
    )
    .expect("metric names are unique")
});

/// Sheets opened for packed bodies, by whether the sheet was made ahead of
/// need (`ahead`) or while a fill waited for it (`inline`).
pub static SEALED_SHEETS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_sealed_sheets_total",
        "Sheets opened for stored bodies under 2 MiB, by whether they were made ahead of need or while a fill waited (made)",
        &["made"]
    )
    .expect("metric names are unique")
});

/// How long making one sealed memory file took (creating it, sizing it,
/// asking for its huge pages): on a host whose memory is fragmented the
/// kernel may compact memory to find 2 MiB pages.
pub static SEALED_FILE_MAKE: Lazy<Histogram> = Lazy::new(|| {
    register_histogram!(
        "hls_edge_sealed_file_make_seconds",
        "Time to make one sealed memory file: create, size, and collapse its 2 MiB runs into huge pages",
        vec![0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1]
    )
    .expect("metric names are unique")
});

/// Bodies of at least 64 KiB kept in ordinary memory instead of a sealed
/// file, by reason (`budget`: half the open-file limit is held; `kernel`:
/// the file could not be made), and connections that fell back from
/// `sendfile` to copying writes (`sendfile`).
pub static SEALED_FALLBACKS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "hls_edge_sealed_fallbacks_total",
        "Stored bodies not kept in a sealed file, and connections that stopped using sendfile, by reason",
        &["reason"]
    )
    .expect("metric names are unique")
});

/// Body bytes sent to players from sealed files with `sendfile`.
pub static SENDFILE_BYTES: Lazy<IntCounter> = Lazy::new(|| {
    register_int_counter!(
        "hls_edge_sendfile_bytes_total",
        "Response body bytes sent to plaintext HTTP/1 clients from sealed files with sendfile"
    )
    .expect("metric names are unique")
});

pub(super) fn register() {
    Lazy::force(&SEALED_BODIES);
    Lazy::force(&SEALED_FILES);
    Lazy::force(&SEALED_HUGE_RUNS);
    Lazy::force(&SEALED_SHEET_BYTES);
    Lazy::force(&SEALED_SHEETS);
    Lazy::force(&SEALED_FILE_MAKE);
    Lazy::force(&SEALED_FALLBACKS);
    Lazy::force(&SENDFILE_BYTES);
    Lazy::force(&TLS_HANDSHAKES);
    Lazy::force(&TLS_SNI_UNMATCHED);
    Lazy::force(&TLS_CERT_EXPIRY);
    Lazy::force(&TLS_RELOADS);
    Lazy::force(&REQUESTS_BY_PROTOCOL);
    Lazy::force(&COMPRESSED_RESPONSES);
    Lazy::force(&COMPRESSION_BYTES);
}
