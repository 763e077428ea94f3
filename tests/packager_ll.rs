//! LL-HLS at the packager's own port (draft-pantos-hls-rfc8216bis): blocking playlist
//! reloads answered within a part target of the part's production, the 400 and 503 rules,
//! directives ignored once ended, delta updates read by three parsers, and a hinted part
//! held until it is published, then sent whole.

mod packager_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use hls_edge::hls::playlist::{MediaPlaylist, PartPosition, Playlist};
use packager_support::{ffprobe, have_ffmpeg, request, wait_until, TestPackager, KEY, KEY_SHA256};

const PART_TARGET: Duration = Duration::from_millis(500);

const LL_DEMO: &str = "\
low_latency: true
part_target: 500ms
window: 15
streams:
  - name: demo
    loop:
      - { rendition: 360p, file: conf/demo/360p.ts }
      - { rendition: 180p, file: conf/demo/180p.ts }
";

/// The packager with the looped demo, and the path of its 360p media playlist.
fn demo() -> (TestPackager, String) {
    let p = TestPackager::start(LL_DEMO);
    wait_until(Duration::from_secs(10), "master playlist", || {
        p.get("/hls/demo/master.m3u8")
            .is_ok_and(|r| r.status == 200)
    });
    let master = p.get("/hls/demo/master.m3u8").expect("master").text();
    let variant = master
        .lines()
        .find(|l| l.ends_with("/360p/index.m3u8"))
        .expect("a 360p variant")
        .to_string();
    let path = format!("/hls/demo/{variant}");
    // the loop starts with a full window published at once
    wait_until(Duration::from_secs(10), "a full window", || {
        playlist(&p, &path).segments.len() == 15
    });
    (p, path)
}

fn parse(text: &str) -> MediaPlaylist {
    match Playlist::parse(text.as_bytes()) {
        Ok(Playlist::Media(m)) => m,
        other => panic!("not a media playlist: {other:?}\n{text}"),
    }
}

fn playlist(p: &TestPackager, path: &str) -> MediaPlaylist {
    let r = p.get(path).expect("playlist");
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    parse(&r.text())
}

/// `part_12.3.ts` -> (12, 3)
fn position(uri: &str) -> PartPosition {
    let numbers = uri
        .strip_prefix("part_")
        .and_then(|u| u.strip_suffix(".ts"));
    let (msn, part) = numbers.and_then(|n| n.split_once('.')).expect("a part URI");
    PartPosition {
        msn: msn.parse().expect("msn"),
        part: part.parse().expect("part"),
    }
}

fn hinted(m: &MediaPlaylist) -> PartPosition {
    position(&m.preload_hints.first().expect("a preload hint").uri)
}

/// `/hls/demo/{generation}/{rendition}/index.m3u8` -> (generation, rendition)
fn ids(path: &str) -> (String, String) {
    let parts: Vec<&str> = path.split('/').collect();
    (parts[3].to_string(), parts[4].to_string())
}

/// When the store published part `at` of the playlist at `path`.
fn published_at(p: &TestPackager, stream: &str, path: &str, at: PartPosition) -> SystemTime {
    let (generation, rendition) = ids(path);
    p.packager
        .store()
        .read_rendition(stream, &generation, &rendition, |r| {
            r.part(at).map(|part| part.published_at)
        })
        .flatten()
        .unwrap_or_else(|| panic!("part {at:?} not held"))
}

fn dir(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

#[test]
fn a_blocking_reload_returns_within_one_part_target_of_the_part() {
    let (p, path) = demo();
    let mut worst = Duration::ZERO;
    for _ in 0..6 {
        let next = hinted(&playlist(&p, &path));
        let asked = Instant::now();
        let query = format!("{path}?_HLS_msn={}&_HLS_part={}", next.msn, next.part);
        let r = p.get(&query).expect("blocking reload");
        let answered = SystemTime::now();
        assert_eq!(r.status, 200, "{}", r.text());
        let m = parse(&r.text());
        assert!(
            m.last_part() >= Some(next),
            "{:?} < {next:?}",
            m.last_part()
        );
        assert_eq!(r.header("cache-control"), Some("public, max-age=12"));
        let produced = published_at(&p, "demo", &path, next);
        let lag = answered
            .duration_since(produced)
            .expect("answered after it was produced");
        assert!(
            lag < PART_TARGET,
            "answered {lag:?} after the part was produced"
        );
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "held {:?}",
            asked.elapsed()
        );
        worst = worst.max(lag);
    }
    eprintln!("blocking reloads answered at most {worst:?} after their part was produced");

    // `_HLS_msn` alone waits for the whole segment
    let open = playlist(&p, &path).last_media_sequence().expect("segments") + 1;
    let r = p
        .get(&format!("{path}?_HLS_msn={open}"))
        .expect("blocking reload");
    let m = parse(&r.text());
    assert_eq!(m.last_media_sequence(), Some(open), "{}", r.text());
    let holds = &p.packager.holds().snapshot()[0].1;
    assert!(
        holds.of(hls_edge::packager::holds::Outcome::AfterHold) >= 6,
        "{holds:?}"
    );
    assert_eq!(holds.held_now, 0);
}

#[test]
fn bad_directives_get_400_and_are_never_stored() {
    let (p, path) = demo();
    let m = playlist(&p, &path);
    let last = m.last_media_sequence().expect("segments");
    let next = hinted(&m);
    for query in [
        "_HLS_part=1".to_string(),
        format!("_HLS_msn={}", last + 3),
        format!("_HLS_msn={}&_HLS_part={}", next.msn, next.part + 7),
        "_HLS_msn=x".to_string(),
        "_HLS_skip=NO".to_string(),
    ] {
        let started = Instant::now();
        let r = p.get(&format!("{path}?{query}")).expect("answered");
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        assert_eq!(r.header("cache-control"), Some("no-store"), "{query}");
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "{query}: at once"
        );
    }
    // the limits themselves are allowed: last + 2, and 6 parts ahead (3 / 0.5 s)
    let r = p.get(&format!("{path}?_HLS_msn={}&_HLS_part=0", last + 2));
    assert!(r.is_ok_and(|r| r.status == 200));
}

/// A chunked `PUT` to the packager's ingest, sent piece by piece.
struct Push(TcpStream);

impl Push {
    fn start(addr: SocketAddr, stream: &str, rendition: &str) -> Push {
        let mut conn = TcpStream::connect(addr).expect("connect");
        let head = format!(
            "PUT /ingest/{stream}/{rendition}?key={KEY} HTTP/1.1\r\nHost: {addr}\r\n\
             Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        conn.write_all(head.as_bytes()).expect("head");
        Push(conn)
    }

    fn send(&mut self, data: &[u8]) {
        for chunk in data.chunks(64 * 1024) {
            let head = format!("{:x}\r\n", chunk.len());
            self.0.write_all(head.as_bytes()).expect("chunk");
            self.0.write_all(chunk).expect("chunk");
            self.0.write_all(b"\r\n").expect("chunk");
        }
    }

    fn finish(mut self) -> String {
        self.0.write_all(b"0\r\n\r\n").expect("last chunk");
        self.0.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut answer = String::new();
        let _ = self.0.read_to_string(&mut answer);
        answer
    }
}

#[test]
fn a_stalled_input_gets_503_after_three_target_durations_and_an_ended_one_ignores_directives() {
    let p = TestPackager::start(&format!(
        "target_duration: 1s\nlow_latency: true\npart_target: 500ms\n\
         streams:\n  - {{ name: live, key_sha256: \"{KEY_SHA256}\" }}\n"
    ));
    let file = std::fs::read("conf/demo/360p.ts").expect("demo file");
    let half = file.len() / 2 / 188 * 188;
    let mut push = Push::start(p.addr, "live", "360p");
    push.send(&file[..half]);
    wait_until(Duration::from_secs(10), "parts published", || {
        p.get("/hls/live/master.m3u8")
            .is_ok_and(|r| r.status == 200)
    });
    let master = p.get("/hls/live/master.m3u8").expect("master").text();
    let path = format!("/hls/live/{}", master.lines().last().expect("variant"));
    wait_until(Duration::from_secs(5), "a preload hint", || {
        !playlist(&p, &path).preload_hints.is_empty()
    });
    let next = hinted(&playlist(&p, &path));

    // the input stalls: neither the blocking reload nor the hinted part can be met
    let addr = p.addr;
    let blocking = format!("{path}?_HLS_msn={}&_HLS_part={}", next.msn, next.part);
    let part = format!("{}/part_{}.{}.ts", dir(&path), next.msn, next.part);
    let waits: Vec<_> = [blocking, part]
        .into_iter()
        .map(|target| {
            std::thread::spawn(move || {
                let started = Instant::now();
                let r = request(addr, "GET", &target, &[], b"").expect("answered");
                (r, started.elapsed())
            })
        })
        .collect();
    for wait in waits {
        let (r, after) = wait.join().expect("joins");
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert!(
            (Duration::from_millis(2900)..Duration::from_millis(4500)).contains(&after),
            "503 after {after:?}, not 3 target durations (3 s)"
        );
    }

    // the input ends: directives no longer hold or refuse anything
    push.send(&file[half..]);
    let answer = push.finish();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let ended = playlist(&p, &path);
    assert!(ended.end_list && ended.preload_hints.is_empty());
    for query in [
        "_HLS_msn=999",
        "_HLS_part=3",
        "_HLS_msn=999&_HLS_part=9",
        "_HLS_skip=YES",
    ] {
        let started = Instant::now();
        let r = p.get(&format!("{path}?{query}")).expect("answered");
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        assert!(parse(&r.text()).end_list);
        assert_eq!(r.header("cache-control"), Some("public, max-age=86400"));
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "{query} held"
        );
    }
    let beyond = ended.last_part().expect("parts");
    let never = format!("{}/part_{}.{}.ts", dir(&path), beyond.msn + 1, 0);
    assert_eq!(p.get(&never).expect("answered").status, 404);

    let snapshot = p.packager.holds().snapshot();
    let (_, blocking, hints) = &snapshot[0];
    use hls_edge::packager::holds::Outcome;
    assert_eq!(blocking.of(Outcome::TimedOut), 1, "{blocking:?}");
    assert_eq!(hints.of(Outcome::TimedOut), 1, "{hints:?}");
}

#[test]
fn delta_updates_are_valid_playlists_and_shorter() {
    let (p, path) = demo();
    for skip in ["YES", "v2"] {
        let url = format!("{path}?_HLS_skip={skip}");
        // a full playlist and a delta of the same moment: the live window slides
        // every target duration, so a pair straddling a slide is taken again
        let (full_text, r) = (0..3)
            .map(|_| {
                let full = p.get(&path).expect("full").text();
                (full, p.get(&url).expect("delta"))
            })
            .find(|(full, r)| parse(full).media_sequence == parse(&r.text()).media_sequence)
            .expect("a full playlist and a delta of the same window in three tries");
        let full = parse(&full_text);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("cache-control"), Some("no-cache"), "not blocking");
        let text = r.text();
        let delta = parse(&text);
        // 30 s listed, a 12 s skip boundary: the 9 segments ending 12 s or more before
        // the end are skipped (8 when the open segment's parts move the end on)
        assert!(delta.skipped_segments() >= 8, "{text}");
        assert!(
            text.len() < full_text.len(),
            "{} vs {}",
            text.len(),
            full_text.len()
        );
        assert_eq!(delta.media_sequence, full.media_sequence);
        assert!(delta.last_media_sequence() >= full.last_media_sequence());
        // what is listed covers no more than the last 12 s + a segment
        let listed: f64 = delta.segments.iter().map(|s| s.duration).sum();
        assert!(listed <= 14.5, "{listed}");
        let theirs = m3u8_rs::parse_media_playlist_res(text.as_bytes()).expect("m3u8-rs reads it");
        assert_eq!(theirs.segments.len(), delta.segments.len());
        if have_ffmpeg("delta_updates_are_valid_playlists_and_shorter") {
            let codecs = ffprobe(&p.url(&url), "stream=codec_name").expect("ffprobe reads it");
            assert!(
                codecs.contains("h264") && codecs.contains("aac"),
                "{codecs}"
            );
        }
    }
    // a blocking delta update
    let next = hinted(&playlist(&p, &path));
    let url = format!(
        "{path}?_HLS_msn={}&_HLS_part={}&_HLS_skip=YES",
        next.msn, next.part
    );
    let delta = parse(&p.get(&url).expect("blocking delta").text());
    assert!(delta.skipped_segments() > 0 && delta.last_part() >= Some(next));
}

#[test]
fn a_hinted_part_is_held_until_published_then_sent_whole() {
    let (p, path) = demo();
    let m = playlist(&p, &path);
    let next = hinted(&m);
    let uri = format!("{}/part_{}.{}.ts", dir(&path), next.msn, next.part);

    // ten players ask for the hinted part at once
    let addr = p.addr;
    let players: Vec<_> = (0..10)
        .map(|_| {
            let uri = uri.clone();
            std::thread::spawn(move || {
                let r = request(addr, "GET", &uri, &[], b"").expect("answered");
                (r, SystemTime::now())
            })
        })
        .collect();
    // a part past the hint is not there and not hinted: 404 at once
    let started = Instant::now();
    let after = format!("{}/part_{}.{}.ts", dir(&path), next.msn, next.part + 1);
    assert_eq!(p.get(&after).expect("answered").status, 404);
    assert!(started.elapsed() < Duration::from_millis(200));

    let answers: Vec<_> = players
        .into_iter()
        .map(|p| p.join().expect("joins"))
        .collect();
    let produced = published_at(&p, "demo", &path, next);
    let (generation, rendition) = ids(&path);
    let stored = p
        .packager
        .store()
        .read_rendition("demo", &generation, &rendition, |r| {
            r.part(next)
                .map(|part| (part.data.clone(), part.independent))
        })
        .flatten()
        .expect("the part");
    for (r, at) in answers {
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("video/mp2t"));
        assert_eq!(
            r.header("content-length"),
            Some(stored.0.len().to_string().as_str())
        );
        assert_eq!(r.body, stored.0.to_vec(), "the whole part");
        let lag = at.duration_since(produced).expect("after it was produced");
        assert!(
            lag < Duration::from_millis(150),
            "sent {lag:?} after it was produced"
        );
    }
    // an independent part starts with the PAT (PID 0), where a player may join
    let starts_with_pat = stored.0[0] == 0x47 && stored.0[1] & 0x1f == 0 && stored.0[2] == 0;
    assert_eq!(stored.1, starts_with_pat);

    // the same URL later: from the store at once, never to change
    let again = p.get(&uri).expect("part");
    assert_eq!(again.body, stored.0.to_vec());
    assert_eq!(
        again.header("cache-control"),
        Some("public, max-age=86400, immutable")
    );

    // once its segment is complete, the part is where it was in the segment
    let segment_path = format!("{}/seg_{}.ts", dir(&path), next.msn);
    wait_until(Duration::from_secs(5), "the segment", || {
        p.get(&segment_path).is_ok_and(|r| r.status == 200)
    });
    let segment = p.get(&segment_path).expect("segment").body;
    let before: usize = (0..next.part)
        .map(|i| {
            let uri = format!("{}/part_{}.{i}.ts", dir(&path), next.msn);
            p.get(&uri).expect("earlier part").body.len()
        })
        .sum();
    assert_eq!(&segment[before..before + stored.0.len()], &stored.0[..]);
}
