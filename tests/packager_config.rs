//! The shipped configs' packager sections, and the demo files they loop.

use std::path::Path;
use std::time::Duration;

use hls_edge::config::Config;
use hls_edge::packager::looping::LoopFile;
use hls_edge::packager::segmenter::SegmenterConfig;

#[test]
fn origin_only_config_runs_the_packager_on_all_interfaces() {
    let config = Config::load(Path::new("conf/origin.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.routes.is_empty(), "origin-only: no proxy routes");
    let packager = config.packager.expect("a packager section");
    assert_eq!(packager.listen, "0.0.0.0:8081".parse().unwrap());
    let demo = packager
        .streams
        .iter()
        .find(|s| s.name == "demo")
        .expect("the demo stream");
    let renditions: Vec<_> = demo.loops.iter().map(|l| l.rendition.as_str()).collect();
    assert_eq!(renditions, ["360p", "180p"]);
}

#[test]
fn demo_files_cut_into_three_two_second_segments() {
    for (file, size) in [
        ("conf/demo/360p.ts", (640, 360)),
        ("conf/demo/180p.ts", (320, 180)),
    ] {
        let bytes = std::fs::metadata(file).expect("demo file").len();
        assert!(
            bytes < 1024 * 1024,
            "{file} is {bytes} bytes: keep the demo small"
        );
        let loop_file =
            LoopFile::load(Path::new(file), SegmenterConfig::default()).expect("segments");
        let durations: Vec<_> = loop_file.segments.iter().map(|s| s.duration).collect();
        assert_eq!(durations, [Duration::from_secs(2); 3], "{file}");
        // the period covers every stream (audio runs a little past the last
        // video frame), so no timestamp goes backwards at the loop point
        assert!(
            loop_file.period >= Duration::from_secs(6)
                && loop_file.period < Duration::from_millis(6200),
            "{file}: period {:?}",
            loop_file.period
        );
        assert_eq!(loop_file.errors, 0);
        assert_eq!(loop_file.info.resolution, Some(size));
        assert!(
            loop_file
                .info
                .codecs
                .iter()
                .any(|c| c.starts_with("avc1.4d")),
            "{:?}",
            loop_file.info
        ); // Main
        assert!(
            loop_file.info.codecs.iter().any(|c| c == "mp4a.40.2"),
            "{:?}",
            loop_file.info
        );
    }
}

#[test]
fn packager_problems_are_named_by_path() {
    let yaml = "packager:\n  window: 2\n  streams:\n    - { name: demo, key_sha256: xyz }\n";
    let err = Config::parse(yaml)
        .expect_err("bad packager section")
        .to_string();
    assert!(
        err.contains("packager.window: 2 is not between 3 and 1000"),
        "{err}"
    );
    assert!(
        err.contains("packager.streams[0].key_sha256: is not 64 hex digits"),
        "{err}"
    );
    assert!(
        !err.contains("xyz"),
        "the configured value is not echoed: {err}"
    );
}
