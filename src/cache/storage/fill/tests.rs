use pingora::cache::key::CacheHashKey;
use pingora::cache::storage::{HitHandler, MissHandler};

use super::*;
use crate::cache::storage::test_objects::{segment_meta, storage};
use crate::cache::StreamingView;

/// The tag a writer's fill is known by.
fn tag_of(writer: &MissHandler) -> FillTag {
    let bytes = writer.streaming_write_tag().expect("a streaming fill");
    FillTag(u64::from_be_bytes(bytes.try_into().expect("8 bytes")))
}

fn span() -> SpanHandle {
    pingora::cache::trace::Span::inactive().handle()
}

async fn read_all(hit: &mut HitHandler) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = hit.read_body().await? {
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A streaming fill of `name` begun on a fresh storage, a reader that looked it
/// up before any byte came, and the storage itself.
async fn fill_with_reader(
    name: &str,
) -> (
    &'static MemoryStorage,
    &'static StreamingView,
    CacheKey,
    MissHandler,
    HitHandler,
) {
    let base = storage();
    let view: &'static StreamingView = Box::leak(Box::new(StreamingView::new(base)));
    let key = CacheKey::new(name, "");
    let fill = view
        .get_miss_handler(&key, &segment_meta(), &span())
        .await
        .expect("fill");
    let (_, reader) = view
        .lookup(&key, &span())
        .await
        .expect("lookup")
        .expect("a partial hit");
    (base, view, key, fill, reader)
}

#[tokio::test]
async fn readers_get_a_fill_as_it_is_written_then_the_object_is_stored() {
    let (base, view, key, mut fill, mut early) = fill_with_reader("seg").await;
    fill.write_body(Bytes::from_static(b"abc"), false)
        .await
        .expect("write");
    // the first bytes are readable before the rest exists
    let first = early.read_body().await.expect("read").expect("a chunk");
    assert_eq!(&first[..], b"abc");
    let reader = tokio::spawn(async move { read_all(&mut early).await });
    fill.write_body(Bytes::from_static(b"def"), true)
        .await
        .expect("write");
    fill.finish().await.expect("finish");
    assert_eq!(reader.await.expect("task").expect("whole"), b"def");
    // the complete object is stored and the fill forgotten
    let (_, mut hit) = view
        .lookup(&key, &span())
        .await
        .expect("lookup")
        .expect("hit");
    assert_eq!(read_all(&mut hit).await.expect("body"), b"abcdef");
    assert!(base.fills.lock().is_empty());
}

#[tokio::test]
async fn a_fill_cut_short_fails_its_readers_and_stores_nothing() {
    let (base, view, key, mut fill, mut reader) = fill_with_reader("cut").await;
    fill.write_body(Bytes::from_static(b"abc"), false)
        .await
        .expect("write");
    drop(fill);
    let started = Instant::now();
    let read = read_all(&mut reader).await;
    assert!(read.is_err(), "never a short body that looks complete");
    assert!(
        started.elapsed() >= ORPHAN_GRACE - Duration::from_millis(50),
        "waited for an adopter"
    );
    assert!(base
        .lookup_stored(u128::from_be_bytes(key.combined_bin()))
        .expect("lookup")
        .is_none());
    // the dead fill is forgotten: the next request misses and fetches anew
    let deadline = Instant::now() + Duration::from_secs(5);
    while !base.fills.lock().is_empty() {
        assert!(Instant::now() < deadline, "the orphan was never forgotten");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(view.lookup(&key, &span()).await.expect("lookup").is_none());
}

#[tokio::test]
async fn two_fills_of_one_key_each_reach_their_own_readers_and_writer() {
    let (base, view, key, mut first, mut first_reader) = fill_with_reader("raced").await;
    let mut second = view
        .get_miss_handler(&key, &segment_meta(), &span())
        .await
        .expect("a second writer");
    let (_, mut second_reader) = view
        .lookup(&key, &span())
        .await
        .expect("lookup")
        .expect("new readers follow the newest fill");
    let (first_tag, second_tag) = (tag_of(&first), tag_of(&second));
    first
        .write_body(Bytes::from_static(b"abc"), false)
        .await
        .expect("write");
    second
        .write_body(Bytes::from_static(b"abc"), false)
        .await
        .expect("write");
    drop(first); // both cut
    drop(second);
    let firsts = tokio::spawn(async move { read_all(&mut first_reader).await });
    let seconds = tokio::spawn(async move { read_all(&mut second_reader).await });
    for tag in [second_tag, first_tag] {
        let adopted = base
            .adopt_fill(&key, tag)
            .expect("each writer adopts its own");
        adopted.append(Bytes::from_static(b"def"));
        adopted.finish().expect("stored");
    }
    assert_eq!(firsts.await.expect("task").expect("whole"), b"abcdef");
    assert_eq!(seconds.await.expect("task").expect("whole"), b"abcdef");
    assert!(base.fills.lock().is_empty());
}

#[tokio::test]
async fn an_abandoned_fill_completed_by_its_writer_reaches_every_reader_whole() {
    let (base, view, key, mut fill, mut reader) = fill_with_reader("resumed").await;
    fill.write_body(Bytes::from_static(b"abc"), false)
        .await
        .expect("write");
    let tag = tag_of(&fill);
    drop(fill); // the origin cut the body
    let whole = tokio::spawn(async move { read_all(&mut reader).await });
    assert!(
        base.adopt_fill(&key, FillTag::next()).is_none(),
        "only its writer adopts it"
    );
    let adopted = base.adopt_fill(&key, tag).expect("an orphan to adopt");
    assert!(base.adopt_fill(&key, tag).is_none(), "adopted once");
    assert_eq!(adopted.len(), 3);
    assert_eq!(adopted.received_from(1), vec![Bytes::from_static(b"bc")]);
    adopted.append(Bytes::from_static(b"def"));
    adopted.finish().expect("stored");
    assert_eq!(whole.await.expect("task").expect("whole"), b"abcdef");
    let (_, mut hit) = view
        .lookup(&key, &span())
        .await
        .expect("lookup")
        .expect("hit");
    assert_eq!(read_all(&mut hit).await.expect("body"), b"abcdef");
}

#[tokio::test]
async fn playlists_see_no_fill_in_progress_and_a_reader_can_seek() {
    let base = storage();
    let key = CacheKey::new("playlist", "");
    let mut fill = base
        .get_miss_handler(&key, &segment_meta(), &span())
        .await
        .expect("fill");
    fill.write_body(Bytes::from_static(b"#EXTM3U"), false)
        .await
        .expect("write");
    assert!(base.lookup(&key, &span()).await.expect("lookup").is_none());
    drop(fill);
    assert!(
        base.fills.lock().is_empty(),
        "a non-streaming fill fails at once"
    );

    let (_, _, _, mut fill, mut reader) = fill_with_reader("ranged").await;
    reader.seek(2, Some(5)).expect("seek");
    fill.write_body(Bytes::from_static(b"abc"), false)
        .await
        .expect("write");
    fill.write_body(Bytes::from_static(b"def"), true)
        .await
        .expect("write");
    fill.finish().await.expect("finish");
    assert_eq!(read_all(&mut reader).await.expect("range"), b"cde");
}

#[tokio::test]
async fn a_fill_is_known_by_the_tag_its_writer_gave_in_the_meta() {
    let base = storage();
    let view: &'static StreamingView = Box::leak(Box::new(StreamingView::new(base)));
    let key = CacheKey::new("tagged", "");
    let tag = FillTag::next();
    let mut meta = segment_meta();
    meta.extensions_mut().insert(tag);
    let fill = view
        .get_miss_handler(&key, &meta, &span())
        .await
        .expect("fill");
    assert_eq!(tag_of(&fill), tag);
    drop(fill);
    assert!(base.adopt_fill(&key, tag).is_some());
}
