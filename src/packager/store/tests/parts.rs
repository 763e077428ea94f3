//! Partial segments in the store: published one by one before their segment, kept as
//! slices of it, counted in the memory bound, refused only at a segment's first part, and
//! signalled to waiting requests.

use super::*;

/// The parts of one segment and the segment, as the segmenter would hand them over.
fn pieces(sizes: &[usize]) -> (Vec<NewPart>, NewSegment) {
    let mut all = Vec::new();
    let parts = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let data: Vec<u8> = (0..len).map(|b| (b + i) as u8).collect();
            all.extend_from_slice(&data);
            NewPart {
                data: Bytes::from(data),
                duration: Duration::from_millis(500),
                independent: i == 0,
                discontinuity: false,
                program_date_time: t(0),
                published_at: t(i as u64),
            }
        })
        .collect();
    let mut segment = seg(0);
    segment.data = Bytes::from(all);
    (parts, segment)
}

fn rendition<T>(store: &Store, input: &InputHandle, f: impl FnOnce(&Rendition) -> T) -> T {
    store
        .read_rendition(
            &input.stream,
            input.generation.as_str(),
            &input.rendition,
            f,
        )
        .expect("rendition")
}

fn at(msn: u64, part: u64) -> PartPosition {
    PartPosition { msn, part }
}

#[test]
fn parts_come_before_their_segment_and_end_as_slices_of_it() {
    let store = Store::new(limits());
    let input = store.open("live", "720p", t(0));
    let (parts, segment) = pieces(&[300, 200, 100]);
    assert_eq!(rendition(&store, &input, |r| r.next_part()), Some(at(0, 0)));
    let expected: Vec<_> = parts.iter().map(|p| p.data.clone()).collect();
    for (i, part) in parts.into_iter().enumerate() {
        assert_eq!(store.publish_part(&input, part), Ok(at(0, i as u64)));
    }
    assert_eq!(store.bytes(), 600);
    let (last, next, held) = rendition(&store, &input, |r| {
        let held = r.part(at(0, 1)).map(|p| p.data.clone());
        (r.last_part(), r.next_part(), held)
    });
    assert_eq!((last, next), (Some(at(0, 2)), Some(at(0, 3))));
    assert_eq!(held, Some(expected[1].clone()));
    assert!(store
        .segment("live", input.generation.as_str(), "720p", 0)
        .is_none());

    let data = segment.data.clone();
    assert_eq!(store.publish(&input, segment), Ok(0));
    assert_eq!(store.bytes(), 600, "the parts' own copies are gone");
    rendition(&store, &input, |r| {
        assert_eq!(r.next_part(), Some(at(1, 0)));
        assert_eq!(r.last_part(), Some(at(0, 2)));
        assert!(r.open_segment().is_none());
        let stored = r.segment(0).expect("segment 0");
        for (i, p) in stored.parts.iter().enumerate() {
            assert_eq!(p.data, expected[i]);
            // a slice of the segment's bytes, not a copy
            let offset = p.data.as_ptr() as usize - data.as_ptr() as usize;
            assert!(offset < data.len());
        }
        assert_eq!(r.part(at(0, 2)).map(|p| p.published_at), Some(t(2)));
        assert!(r.part(at(0, 3)).is_none() && r.part(at(1, 0)).is_none());
    });
    assert_eq!(store.stats()[0].parts_produced, 3);
}

#[test]
fn a_segment_refused_at_its_first_part_publishes_nothing_and_keeps_its_number() {
    let store = Store::new(limits()); // 10_000 bytes
    let input = store.open("live", "720p", t(0));
    for _ in 0..3 {
        store.publish(&input, seg(3000)).unwrap();
    }
    // the window (3 segments) cannot be cut: a first part of 2000 does not fit
    let (parts, segment) = pieces(&[2000, 10]);
    for part in parts {
        assert!(matches!(
            store.publish_part(&input, part),
            Err(StoreError::Full { .. })
        ));
    }
    assert!(matches!(
        store.publish(&input, segment),
        Err(StoreError::Full { .. })
    ));
    assert_eq!(rendition(&store, &input, |r| r.next_part()), Some(at(3, 0)));
    assert_eq!(store.stats()[0].segments_refused, 1);
    // the next segment, once it fits, is number 3 and its parts are published
    let (parts, segment) = pieces(&[500, 500]);
    for part in parts {
        store.publish_part(&input, part).unwrap();
    }
    assert_eq!(store.publish(&input, segment), Ok(3));
}

#[test]
fn a_segment_whose_parts_are_out_is_never_refused() {
    let store = Store::new(limits()); // 10_000 bytes
    let input = store.open("live", "720p", t(0));
    for _ in 0..3 {
        store.publish(&input, seg(3000)).unwrap();
    }
    let (parts, segment) = pieces(&[500, 1500]);
    for part in parts {
        store.publish_part(&input, part).unwrap();
    }
    assert_eq!(
        store.publish(&input, segment),
        Ok(3),
        "its parts were served"
    );
    assert_eq!(store.bytes(), 11_000);
}

#[test]
fn an_input_that_stops_drops_the_parts_of_its_unfinished_segment() {
    let store = Store::new(limits());
    let input = store.open("live", "720p", t(0));
    let (mut parts, _) = pieces(&[400]);
    store.publish_part(&input, parts.remove(0)).unwrap();
    store.close(&input, t(1));
    assert_eq!(store.bytes(), 0);
    rendition(&store, &input, |r| {
        assert!(r.is_ended() && r.open_segment().is_none());
        assert_eq!(r.next_part(), None, "nothing more will come");
    });
}

#[tokio::test]
async fn every_part_segment_and_end_wakes_a_subscriber() {
    let store = Store::new(limits());
    let input = store.open("live", "720p", t(0));
    let mut rx = rendition(&store, &input, Rendition::subscribe);
    let (parts, segment) = pieces(&[10, 10]);
    for part in parts {
        store.publish_part(&input, part).unwrap();
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
    }
    store.publish(&input, segment).unwrap();
    assert!(rx.has_changed().unwrap());
    rx.borrow_and_update();
    store.close(&input, t(1));
    tokio::time::timeout(Duration::from_secs(1), rx.changed())
        .await
        .expect("woken")
        .expect("sender alive");
}
