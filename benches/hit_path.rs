//! What a cache hit pays per request in hls-edge's own code, one piece at a time: the cache
//! key, the storage lookup, the response header decoration, and for playlists the stream
//! book's record of a live one, the session token rewrite (token routes) and the parse (paid
//! once per origin response, at the fill: a hit gets the stored summary).
//!
//! How to run (registered with `harness = false`):
//!   cargo bench --bench hit_path
//! Prints the median ns per operation of several runs, each a tight loop over one input.
//! Pingora's own work (reading the request, the cache state machine, writing the response)
//! is not here: `benches/instructions.sh` counts the whole hit.

#[path = "common/timing.rs"]
mod timing;

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use pingora::cache::key::CacheHashKey;
use pingora::cache::trace::Span;
use pingora::cache::{CacheKey, CacheMeta, Storage};
use pingora::http::ResponseHeader;

use hls_edge::auth::placement::query_value;
use hls_edge::auth::{
    mint_acl_token, stream_acl, Request, SessionGrant, SessionSpec, SessionTerms, TokenConfig,
    TokenFields, TokenKey, Verifier,
};
use hls_edge::cache::{CacheKeyBuilder, CachePolicy, MemoryStorage, StoredClass};
use hls_edge::config::{CacheSettings, Config};
use hls_edge::hls::rewrite::rewrite_uris;
use hls_edge::hls::{ObjectClass, Playlist, PlaylistSummary};
use hls_edge::proxy::playback_tokens::SessionParams;
use hls_edge::proxy::playlist_tokens::TokenRewrite;
use hls_edge::proxy::response_headers::ResponseDecor;
use hls_edge::proxy::{CacheResult, RequestCtx};
use hls_edge::streams::{PlaylistSeen, StreamBook, Verdict};

const RUNS: usize = 9;
const NOW: u64 = 1_700_000_000;
const KEY: &str = "52a152a1c0ffee00aa55aa55deadbeef0123456789abcdef0123456789abcdef";
const PLAYLIST: &str = "/hls/demo/720p/index.m3u8";
const HOST: &str = "edge.example:8080";
/// What hls.js sends with every request (CTA-5004 query form): values change each time.
const CMCD: &str = "CMCD=bl%3D21300%2Cbr%3D3200%2Cd%3D4004%2Cdl%3D18500%2Cmtp%3D48100%2Cot%3Dv%2Crtp%3D12000%2Csid%3D%226e2fb550-c457-11e9-bb97-0800200c9a66%22%2Ctb%3D6000";

fn main() {
    let config = Config::parse(CONFIG).expect("bench config is valid");
    let session = session_token();
    let hdntl = format!("hdntl={}", query_value(&session));
    let live = live_playlist();
    let ll = ll_playlist();
    println!(
        "live playlist {} bytes, LL-HLS playlist {} bytes, session token {} bytes",
        live.len(),
        ll.len(),
        session.len()
    );

    cache_keys(&config.cache, &hdntl);
    decoration(&config.cache);
    for (name, body) in [("live 6 segments", &live), ("LL-HLS", &ll)] {
        report(&format!("parse {name}"), 20_000, || {
            Playlist::parse(black_box(body.as_bytes())).is_ok()
        });
        report(&format!("parse + summary {name}"), 20_000, || {
            PlaylistSummary::of(ObjectClass::Playlist, black_box(body.as_bytes())).live
        });
    }
    stream_book(&live);
    token_rewrites(&session, &[("live 6 segments", &live), ("LL-HLS", &ll)]);
    storage_lookups(&config.cache, &live);
}

const CONFIG: &str = "cache: {max_size: 1GiB, max_object_size: 64MiB}
origin_groups: {g: {origins: [{url: 'http://127.0.0.1:1'}]}}
routes: [{name: hls, prefix: /hls/, origin_group: g}]
";

/// The key of a segment request and of an LL-HLS blocking reload, each carrying a
/// session token and CMCD, as a player's URLs do; with the 128-bit hash the storage
/// and Pingora's cache lock index by.
fn cache_keys(settings: &CacheSettings, hdntl: &str) {
    let names = hls_edge::cache::DEFAULT_TOKEN_PARAMS
        .map(String::from)
        .to_vec();
    let keys = CacheKeyBuilder::new(names, settings);
    let segment = format!("{hdntl}&{CMCD}");
    let blocking = format!("_HLS_msn=1486&_HLS_part=2&{hdntl}&{CMCD}");
    let path = "/hls/demo/720p/seg_01484.ts";
    report("cache key: segment, token + CMCD", 1_000_000, || {
        !keys
            .key("hls", path, Some(black_box(&segment)))
            .primary_key()
            .is_empty()
    });
    report(
        "cache key: blocking reload, token + CMCD",
        1_000_000,
        || {
            !keys
                .key("hls", PLAYLIST, Some(black_box(&blocking)))
                .primary_key()
                .is_empty()
        },
    );
    report("cache key + hash: segment", 1_000_000, || {
        keys.key("hls", path, Some(black_box(&segment)))
            .combined_bin()
            != [0; 16]
    });
}

/// An origin's response to a playlist request, as stored: eight headers, without the map
/// of name spellings (`cache/storage/stored_meta.rs`).
fn origin_header(content_length: usize) -> ResponseHeader {
    let mut h = ResponseHeader::build_no_case(200, Some(8)).expect("status");
    for (name, value) in [
        ("server", "nginx/1.22.1".to_string()),
        ("date", "Wed, 02 Dec 2026 09:45:00 GMT".to_string()),
        ("content-type", "application/vnd.apple.mpegurl".to_string()),
        ("content-length", content_length.to_string()),
        ("last-modified", "Wed, 02 Dec 2026 09:44:58 GMT".to_string()),
        ("etag", "\"692eb4ba-42f\"".to_string()),
        ("cache-control", "public, max-age=86400".to_string()),
        ("accept-ranges", "bytes".to_string()),
    ] {
        h.insert_header(name, value).expect("valid header");
    }
    h
}

/// `ResponseDecor::apply` on a VOD playlist hit (`Cache-Status`, `Cache-Control` from
/// the origin's directives, CORS as by default), after the clone of the stored header
/// each hit starts from; the clone alone beside it.
fn decoration(settings: &CacheSettings) {
    let policy = CachePolicy::new(settings.clone());
    let decor = ResponseDecor {
        edge_id: "edge-local".into(),
        allow_origin: Some(http::HeaderValue::from_static("*")),
    };
    let stored = origin_header(1071);
    let mut ctx = RequestCtx::new();
    ctx.class = ObjectClass::VodPlaylist;
    ctx.cache = CacheResult::Hit;
    ctx.remaining_ttl = Some(Duration::from_secs(86_390));
    report("clone stored header (8 headers)", 500_000, || {
        black_box(stored.clone()).headers.len() == 8
    });
    report("clone + ResponseDecor::apply (VOD hit)", 200_000, || {
        let mut resp = black_box(&stored).clone();
        decor.apply(&mut resp, &ctx, &policy, None).is_ok()
    });
}

/// The stream book's record of a live playlist hit (`StreamBook::playlist`, which
/// `proxy::playlist_response` calls for every live playlist it sends; no origin answered).
fn stream_book(live: &str) {
    let book = StreamBook::new();
    let body = Bytes::from(live.to_string());
    let summary = PlaylistSummary::of(ObjectClass::Playlist, &body);
    assert!(summary.live, "the bench playlist is live");
    let seen = PlaylistSeen {
        stream: "demo",
        path: PLAYLIST,
        group: "g",
        origins: 1,
        stale_after: 3,
        from: None,
        summary: &summary,
        body: &body,
    };
    report("stream book: live playlist hit", 500_000, || {
        matches!(
            book.playlist(black_box(&seen), Instant::now()),
            Verdict::Send
        )
    });
}

/// A session token for `/hls/demo/*`, as the rewritten multivariant playlist gave it.
fn session_token() -> String {
    let (v, key) = verifier();
    let entry = TokenFields {
        start: Some(NOW),
        exp: NOW + 90,
        acl: vec!["/hls/demo/*".into()],
        id: Some("viewer-0042".into()),
        ..TokenFields::default()
    };
    let entry = mint_acl_token(&key, &TokenConfig::default(), entry).expect("valid fields");
    let verified = v.verify(&entry, &request()).expect("entry verifies");
    let acl = stream_acl("/hls/demo/master.m3u8");
    let spec = SessionSpec {
        acl: &acl,
        ttl: 3600,
        client_ip: None,
        now: NOW,
    };
    v.mint_session(&verified, &spec).expect("valid session")
}

fn verifier() -> (Verifier, TokenKey) {
    let key = TokenKey::from_hex(KEY).expect("bench key is hex");
    let v = Verifier::new(TokenConfig::default(), vec![key.clone()]).expect("one key");
    (v, key)
}

fn request() -> Request<'static> {
    Request {
        path: PLAYLIST,
        client_ip: None,
        now: NOW + 10,
    }
}

/// A playlist reload that presents its session token on a token route: the grant for
/// the response (one mint, `auth::SessionGrant::new`) and the rewrite of every URI.
/// The per-URI steps are those of `proxy::playlist_tokens::TokenRewrite::apply` and
/// `proxy::playback_tokens::SessionParams::param_for`, which take a Pingora session and
/// cannot be built here; `hls::rewrite::rewrite_uris` is the rewriter they call.
fn token_rewrites(session: &str, playlists: &[(&str, &String)]) {
    let (v, _) = verifier();
    let presented = v.verify(session, &request()).expect("session verifies");
    let terms = SessionTerms {
        ttl: 3600,
        client_ip: None,
        now: NOW + 10,
    };
    // the proxy's own rewrite, as it runs for one playlist response: the grant
    // (one mint), the playlist's base parsed once, every URI resolved and given
    // its session token
    let rewrite = |body: &str| {
        let grant = SessionGrant::new(&v, black_box(&presented), PLAYLIST, &terms);
        TokenRewrite::new(SessionParams::new(grant, "hdntl", PLAYLIST), HOST).apply(body.as_bytes())
    };
    for (name, body) in playlists {
        let once = rewrite(body);
        let uris = String::from_utf8_lossy(&once).matches("hdntl=").count();
        let mut listed = 0;
        rewrite_uris(body, |_| {
            listed += 1;
            None
        });
        assert_eq!(uris, listed, "{name}: every URI gets the session token");
        println!("{name}: {uris} URIs rewritten, {} bytes out", once.len());
        report(&format!("token rewrite {name}"), 20_000, || {
            !rewrite(black_box(body)).is_empty()
        });
        report(&format!("  its scan: rewrite_uris, {name}"), 20_000, || {
            rewrite_uris(black_box(body), |_| None).len() == body.len()
        });
    }
    report("  its grant: SessionGrant::new", 100_000, || {
        SessionGrant::new(&v, black_box(&presented), PLAYLIST, &terms)
            .stream_glob()
            .is_none()
    });
    let grant = SessionGrant::new(&v, &presented, PLAYLIST, &terms);
    let params = SessionParams::new(grant, "hdntl", PLAYLIST);
    report(
        "  per URI: param_for (resolve, normalise, token_for, name=value)",
        200_000,
        || params.param_for(black_box("part_01486.1.m4s")).is_some(),
    );
}

/// `MemoryStorage::lookup` and the body read of a hit, as Pingora calls them (boxed
/// futures; the storage's complete at once, so they are polled here without a runtime),
/// round-robin over 100 stored VOD playlists and 100 stored segments.
fn storage_lookups(settings: &CacheSettings, live: &str) {
    let policy = CachePolicy::new(settings.clone());
    let store: &'static MemoryStorage =
        Box::leak(Box::new(MemoryStorage::new(settings.max_size, policy)));
    let vod = format!("{live}#EXT-X-ENDLIST\n");
    let segment = Bytes::from(vec![0x47u8; 750_000]);
    let playlists = fill(store, "index.m3u8", ObjectClass::Playlist, Bytes::from(vod));
    let segments = fill(store, "seg.ts", ObjectClass::Segment, segment);
    let span = Span::inactive().handle();
    for (name, keys) in [("VOD playlist", &playlists), ("segment 750 KB", &segments)] {
        let mut i = 0;
        report(&format!("storage lookup + body: {name}"), 200_000, || {
            i = (i + 1) % keys.len();
            let (meta, mut hit) = ready(store.lookup(black_box(&keys[i]), &span))
                .expect("lookup")
                .expect("a stored object");
            let body = ready(hit.read_body()).expect("read").expect("a body");
            meta.response_header().status == 200 && !body.is_empty()
        });
    }
}

/// Stores 100 objects of `class` through a miss handler, as a fill does.
fn fill(
    store: &'static MemoryStorage,
    name: &str,
    class: ObjectClass,
    body: Bytes,
) -> Vec<CacheKey> {
    let span = Span::inactive().handle();
    (0..100)
        .map(|n| {
            let key = CacheKey::new(format!("3:hls:/hls/s{n}/{name}?"), "");
            let now = SystemTime::now();
            let header = origin_header(body.len());
            let mut meta = CacheMeta::new(now + Duration::from_secs(86_400), now, 0, 0, header);
            meta.extensions_mut().insert(StoredClass(class));
            let mut miss = ready(store.get_miss_handler(&key, &meta, &span)).expect("miss");
            ready(miss.write_body(body.clone(), true)).expect("write");
            ready(miss.finish()).expect("stored");
            key
        })
        .collect()
}

/// The output of a future that completes without waiting (the storage's do).
fn ready<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a storage future waited"),
    }
}

/// A live media playlist of six 4 s MPEG-TS segments.
fn live_playlist() -> String {
    let mut p = String::from(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:1480\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-12-02T09:45:00.000Z\n",
    );
    for msn in 1480..1486 {
        p.push_str(&format!("#EXTINF:4.000,\nseg_{msn:05}.ts\n"));
    }
    p
}

/// An LL-HLS playlist (rfc8216bis): six 4 s fMP4 segments, 1 s parts listed for the last
/// three and two of the segment being produced, a preload hint, two rendition reports.
fn ll_playlist() -> String {
    let mut p = String::from(
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:4\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3.0,CAN-SKIP-UNTIL=24.0\n\
         #EXT-X-PART-INF:PART-TARGET=1.0\n#EXT-X-MEDIA-SEQUENCE:1480\n\
         #EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-12-02T09:45:00.000Z\n",
    );
    let parts = |p: &mut String, msn: u32, n: u32| {
        for i in 0..n {
            let independent = if i == 0 { ",INDEPENDENT=YES" } else { "" };
            p.push_str(&format!(
                "#EXT-X-PART:DURATION=1.00000,URI=\"part_{msn:05}.{i}.m4s\"{independent}\n"
            ));
        }
    };
    for msn in 1480..1486 {
        if msn >= 1483 {
            parts(&mut p, msn, 4);
        }
        p.push_str(&format!("#EXTINF:4.00000,\nseg_{msn:05}.m4s\n"));
    }
    parts(&mut p, 1486, 2);
    p.push_str("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part_01486.2.m4s\"\n");
    for rendition in ["360p", "1080p"] {
        p.push_str(&format!(
            "#EXT-X-RENDITION-REPORT:URI=\"../{rendition}/index.m3u8\",LAST-MSN=1486,LAST-PART=1\n"
        ));
    }
    p
}

/// Runs `op` `iters` times per run, `RUNS` runs; prints the median and best ns per call.
fn report(name: &str, iters: u32, op: impl FnMut() -> bool) {
    timing::report(name, RUNS, iters, op);
}
