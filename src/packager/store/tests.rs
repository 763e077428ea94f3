//! The store's rules: join or restart, window + keep_behind, ended generations
//! and their retention, the memory bound.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::*;

mod parts;

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn limits() -> Retention {
    Retention {
        window: 3,
        keep_behind: 2,
        ended_retention: Duration::from_secs(600),
        max_bytes: 10_000,
    }
}

fn seg(len: usize) -> NewSegment {
    NewSegment {
        data: Bytes::from(vec![0x47; len]),
        duration: Duration::from_secs(2),
        program_date_time: t(0),
        discontinuity: false,
    }
}

fn held(store: &Store, input: &InputHandle) -> Vec<u64> {
    (0..100)
        .filter(|msn| {
            store
                .segment(
                    &input.stream,
                    input.generation.as_str(),
                    &input.rendition,
                    *msn,
                )
                .is_some()
        })
        .collect()
}

#[test]
fn renditions_join_a_live_generation() {
    let store = Store::new(limits());
    let a = store.open("demo", "360p", t(0));
    let b = store.open("demo", "180p", t(1));
    assert_eq!(a.generation, b.generation);
    store.close(&a, t(2));
    assert!(store.stats()[0].live, "180p still runs");
    store.close(&b, t(3));
    assert!(!store.stats()[0].live);
    // the generation ended: a new input starts a new one
    let c = store.open("demo", "180p", t(4));
    assert_ne!(c.generation, a.generation);
}

#[test]
fn a_second_input_for_the_same_rendition_restarts_the_stream() {
    let store = Store::new(limits());
    let first = store.open("live", "720p", t(0));
    store.publish(&first, seg(100)).unwrap();
    let second = store.open("live", "720p", t(1));
    assert_ne!(first.generation, second.generation);
    assert_eq!(
        store.stats()[0].generation.as_ref(),
        Some(&second.generation)
    );
    // the old run keeps its URLs (and can still publish until its input stops)
    assert_eq!(store.publish(&first, seg(100)), Ok(1));
    assert_eq!(store.publish(&second, seg(100)), Ok(0));
    assert_eq!(held(&store, &first), [0, 1]);
}

#[test]
fn keeps_the_window_and_keep_behind_then_prunes() {
    let store = Store::new(limits());
    let input = store.open("live", "720p", t(0));
    for i in 0..8 {
        assert_eq!(store.publish(&input, seg(100)), Ok(i));
    }
    assert_eq!(held(&store, &input), [3, 4, 5, 6, 7]);
    assert_eq!(store.bytes(), 500);
    let window = store
        .read_rendition("live", input.generation.as_str(), "720p", |r| {
            r.window(3).map(|s| s.msn).collect::<Vec<_>>()
        })
        .unwrap();
    assert_eq!(window, [5, 6, 7]);
    let stats = &store.stats()[0];
    assert_eq!((stats.bytes, stats.segments_produced), (500, 8));
}

#[test]
fn ended_generations_are_kept_for_the_retention_then_deleted() {
    let store = Store::new(limits());
    let input = store.open("live", "720p", t(0));
    store.publish(&input, seg(100)).unwrap();
    store.close(&input, t(10));
    let ended =
        |s: &Store| s.read_rendition("live", input.generation.as_str(), "720p", |r| r.is_ended());
    assert_eq!(ended(&store), Some(true));
    store.expire(t(10 + 599));
    assert!(store
        .segment("live", input.generation.as_str(), "720p", 0)
        .is_some());
    store.expire(t(10 + 600));
    assert_eq!(ended(&store), None);
    assert_eq!(store.bytes(), 0);
    assert_eq!(
        store.publish(&input, seg(1)),
        Err(StoreError::GenerationGone(input.generation.clone()))
    );
}

#[test]
fn memory_bound_deletes_ended_generations_first_then_behind_segments_then_refuses() {
    let store = Store::new(limits()); // 10_000 bytes
    let old = store.open("a", "x", t(0));
    store.publish(&old, seg(4000)).unwrap();
    store.close(&old, t(1));
    let live = store.open("b", "x", t(2));
    for _ in 0..3 {
        store.publish(&live, seg(1000)).unwrap();
    }
    assert_eq!(store.bytes(), 7000);
    // 4000 more do not fit: the ended generation goes
    store.publish(&live, seg(4000)).unwrap();
    assert_eq!(store.bytes(), 7000);
    assert!(store
        .segment("a", old.generation.as_str(), "x", 0)
        .is_none());
    // 4000 more again: segments behind the window (msn 0) go, the window stays
    store.publish(&live, seg(4000)).unwrap();
    assert_eq!(held(&store, &live), [1, 2, 3, 4]);
    assert_eq!(store.bytes(), 10_000);
    // freeing msn 1 would not be enough: refused, and nothing is dropped in vain
    assert_eq!(
        store.publish(&live, seg(2000)),
        Err(StoreError::Full {
            size: 2000,
            max: 10_000
        })
    );
    assert_eq!(held(&store, &live), [1, 2, 3, 4]);
    assert_eq!(
        store.publish(&live, seg(20_000)),
        Err(StoreError::Full {
            size: 20_000,
            max: 10_000
        })
    );
    let stats = store.stats();
    assert_eq!(stats[1].segments_refused, 2);
    assert_eq!(stats[1].bytes, store.bytes());
}

#[test]
fn ingest_counters_add_up() {
    let store = Store::new(limits());
    store.open("live", "720p", t(0));
    store.count_ingest("live", 188 * 10, 0);
    store.count_ingest("live", 188, 2);
    let s = &store.stats()[0];
    assert_eq!((s.ingest_bytes, s.ingest_errors), (188 * 11, 2));
}

#[test]
fn registered_streams_are_listed_before_any_input() {
    let store = Store::new(limits());
    store.register("live");
    let s = &store.stats()[0];
    assert_eq!(
        (s.name.as_str(), s.live, s.generation.as_ref(), s.bytes),
        ("live", false, None, 0)
    );
}
