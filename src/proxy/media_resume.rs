//! Completing a media body an origin cut short after its header went to the player
//! (design section 5): the rest is fetched from another origin of the group with a `Range`
//! request and sent on the same response, so the player never sees the cut.
//!
//! The rest is taken only when it is provably the same object (RFC 9110 8.8, 13.1.5):
//! the first answer was a full `200` with a `Content-Length`, and the other origin's `206`
//! carries the same strong `ETag`, or (without one) the same `Last-Modified` and total
//! length in its `Content-Range`. `If-Range` asks the origin itself to send the whole
//! object instead when its copy differs; that answer is refused. Anything else, or no
//! origin left, aborts the response as before: a player never gets a short body that looks
//! complete, and the cache never stores one (the fill was dropped with the cut).
//!
//! Each origin asked is asked once and its outcome reported to the group's health; an
//! origin that cuts the rest too is followed by the next one, from the new offset.
//!
//! Media fills are read by coalesced requests while they are written: a cut abandons the
//! fill for a moment (`storage::fill`), and the request that wrote it adopts it and
//! completes it with the same bytes, so every reader gets the whole object and the
//! complete object is stored. When the cut comes before this request's own header went
//! out, Pingora retries on the next origin: the fill is adopted then, and completed from
//! that origin's answer as it streams (`adopt_for_retry`, `feed`).

use std::time::Instant;

use bytes::Bytes;
use pingora::connectors::http::Connector;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorSource, ErrorType, Result};

use super::context::{Hop, RequestCtx};
use super::upstream_request;
use crate::auth::PeerSecret;
use crate::cache::storage::{AdoptedFill, FillTag};
use crate::cache::CacheKeyBuilder;
use crate::metrics;
use crate::upstream::{Outcome, SelectFor, Traffic};

/// What identifies the object whose body is being sent, and which of its bytes the
/// player asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaValidators {
    /// The full length (`Content-Length` of the 200).
    length: u64,
    /// The first and last byte the player gets (its `Range`, else the whole object).
    first: u64,
    last: u64,
    /// A strong entity tag, as sent.
    etag: Option<String>,
    last_modified: Option<String>,
}

impl MediaValidators {
    /// The validators of a full media response, when a cut could be completed: a 200 with
    /// a length and a strong ETag or a Last-Modified.
    pub fn of(resp: &ResponseHeader) -> Option<MediaValidators> {
        if resp.status.as_u16() != 200 {
            return None;
        }
        let header = |name| {
            resp.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let length = header(http::header::CONTENT_LENGTH)?.parse().ok()?;
        let etag = header(http::header::ETAG).filter(|e| e.starts_with('"'));
        let last_modified = header(http::header::LAST_MODIFIED);
        (length > 0 && (etag.is_some() || last_modified.is_some())).then_some(MediaValidators {
            length,
            first: 0,
            last: length - 1,
            etag,
            last_modified,
        })
    }

    /// Narrowed to the bytes a `Range: bytes=A-B` (or `A-`) asks for; `None` for other
    /// ranges (suffixes, several ranges, unsatisfiable ones), which are not completed.
    fn for_range(mut self, range: Option<&str>) -> Option<MediaValidators> {
        let Some(range) = range else {
            return Some(self);
        };
        let (first, last) = range.trim().strip_prefix("bytes=")?.split_once('-')?;
        self.first = first.trim().parse().ok()?;
        self.last = match last.trim() {
            "" => self.length - 1,
            n => n.parse::<u64>().ok()?.min(self.length - 1),
        };
        (self.first <= self.last).then_some(self)
    }

    /// Whether `resp` is the range `from..=last` of the same object.
    fn matches_range(&self, resp: &ResponseHeader, from: u64, last: u64) -> bool {
        let header = |name| resp.headers.get(name).and_then(|v| v.to_str().ok());
        let expected = format!("bytes {from}-{last}/{}", self.length);
        let same = match &self.etag {
            Some(etag) => header(http::header::ETAG) == Some(etag.as_str()),
            None => header(http::header::LAST_MODIFIED) == self.last_modified.as_deref(),
        };
        resp.status.as_u16() == 206
            && same
            && header(http::header::CONTENT_RANGE)
                .is_some_and(|r| r.eq_ignore_ascii_case(&expected))
    }

    /// The `If-Range` value: the strong ETag, else the date.
    fn if_range(&self) -> Option<&str> {
        self.etag.as_deref().or(self.last_modified.as_deref())
    }
}

/// Remembers the validators of a media response on its way to the player (the origin
/// sent the whole object: the cache asks for all of it). An adopted fill is kept only when
/// this answer is the same object.
pub fn note_response(session: &Session, ctx: &mut RequestCtx, resp: &ResponseHeader) {
    if let Some(orphan) = ctx.orphan.take() {
        let same = MediaValidators::of(resp).is_some()
            && MediaValidators::of(resp) == MediaValidators::of(orphan.header());
        ctx.orphan = same.then_some(orphan);
        ctx.orphan_offset = 0;
    }
    let req = session.req_header();
    if !ctx.class.is_media() || req.method == http::Method::HEAD || ctx.resume.is_some() {
        return;
    }
    let range = req
        .headers
        .get(http::header::RANGE)
        .map(|v| v.to_str().unwrap_or("?"));
    ctx.resume = MediaValidators::of(resp).and_then(|v| v.for_range(range));
}

/// Names the fill this request is about to write (its cache meta carries the tag to the
/// storage), so that after a cut it adopts that fill and no other request's fill of the
/// same key.
pub fn tag_fill(meta: &mut pingora::cache::CacheMeta, ctx: &mut RequestCtx) {
    let tag = FillTag::next();
    meta.extensions_mut().insert(tag);
    ctx.fill_tag = Some(tag);
}

/// The fill this request wrote and a cut abandoned, taken over to be completed.
pub fn adopt_written(
    session: &Session,
    ctx: &RequestCtx,
    storage: &'static crate::cache::MemoryStorage,
) -> Option<AdoptedFill> {
    let tag = ctx.fill_tag?;
    let key = session.cache.maybe_cache_key()?;
    storage.adopt_fill(key, tag)
}

/// Before Pingora retries a media request whose fill was cut before its header went out:
/// the fill (which coalesced requests may be reading) is taken over, and the cache turned
/// off for the retry (Pingora cannot set a second writer on one request).
pub fn adopt_for_retry(
    session: &mut Session,
    ctx: &mut RequestCtx,
    storage: &'static crate::cache::MemoryStorage,
) {
    let filling = matches!(
        session.cache.phase(),
        pingora::cache::CachePhase::Miss | pingora::cache::CachePhase::Expired
    ) && session.cache.miss_handler().is_some();
    if !filling {
        return;
    }
    session
        .cache
        .disable(pingora::cache::NoCacheReason::Custom("retried"));
    ctx.orphan = adopt_written(session, ctx, storage);
}

/// Passes the retried origin's body on to the adopted fill: the bytes it lacks, and its
/// end (stored then).
pub fn feed(ctx: &mut RequestCtx, body: Option<&Bytes>, end: bool) {
    let Some(orphan) = &ctx.orphan else {
        return;
    };
    if let Some(chunk) = body {
        let start = ctx.orphan_offset;
        ctx.orphan_offset += chunk.len();
        let held = orphan.len();
        if ctx.orphan_offset > held {
            orphan.append(chunk.slice(held.saturating_sub(start)..));
        }
    }
    if end {
        if let Some(orphan) = ctx.orphan.take() {
            if let Err(e) = orphan.finish() {
                tracing::warn!(error = %e, "completed fill not stored");
            }
        }
    }
}

/// What a resume needs from the edge.
pub struct Resumer<'a> {
    pub connector: &'a Connector,
    pub keys: &'a CacheKeyBuilder,
    pub edge_id: &'a str,
    pub peer_secret: Option<&'a PeerSecret>,
}

/// Where a resume stands: what the player got, and the fill it completes for everyone.
struct Rest {
    validators: MediaValidators,
    /// The fill the cut abandoned (streamed media: other requests read it too), adopted to
    /// be completed and stored; `None` when the body went to this player alone.
    fill: Option<AdoptedFill>,
}

impl Rest {
    /// The object offset of the next byte the player needs (past `last`: it has all).
    fn player_next(&self, ctx: &RequestCtx) -> u64 {
        self.validators.first + ctx.body_bytes as u64
    }

    /// The object offset to fetch from, and the last byte to fetch.
    fn to_fetch(&self, ctx: &RequestCtx) -> (u64, u64) {
        match &self.fill {
            Some(fill) => (fill.len() as u64, self.validators.length - 1),
            None => (self.player_next(ctx), self.validators.last),
        }
    }

    /// Whether every byte is in: the fill's whole object, or the player's range.
    fn done(&self, ctx: &RequestCtx) -> bool {
        let (from, last) = self.to_fetch(ctx);
        from > last && self.player_next(ctx) > self.validators.last
    }
}

/// Sends the rest of a cut media body from other origins; `Ok` once the whole body went
/// to the player (see the module docs). `fill`: the abandoned fill of this object, which
/// other requests are reading: it is completed (and stored) with the same bytes.
pub async fn complete(
    session: &mut Session,
    ctx: &mut RequestCtx,
    edge: &Resumer<'_>,
    fill: Option<AdoptedFill>,
) -> Result<()> {
    let validators = ctx
        .resume
        .clone()
        .ok_or_else(|| Error::explain(ErrorType::InternalError, "nothing to resume"))?;
    let route = ctx
        .route
        .clone()
        .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route"))?;
    let group = &route.group;
    let mut rest = Rest { validators, fill };
    // what the fill already holds beyond what the player got
    let held = rest
        .fill
        .as_ref()
        .map(|f| f.received_from(rest.player_next(ctx) as usize));
    let mut offset = rest.player_next(ctx);
    for chunk in held.into_iter().flatten() {
        let len = chunk.len() as u64;
        send_part(session, ctx, &rest.validators, chunk, offset).await?;
        offset += len;
    }
    loop {
        if rest.done(ctx) {
            ctx.resumed = true;
            return match rest.fill.take() {
                Some(fill) => fill.finish().map(|_| ()),
                None => Ok(()),
            };
        }
        let Some((index, origin)) = group.select(&ctx.tried, SelectFor::Segment, Instant::now())
        else {
            count(&group.name, "", "none-left");
            return Error::e_explain(
                ErrorType::ConnectNoRoute,
                "no origin left to complete the body",
            );
        };
        ctx.tried.push(index);
        ctx.hop = Some(Hop::Origin(index));
        ctx.origin = Some(origin.clone());
        let (from, _) = rest.to_fetch(ctx);
        let fetched = fetch_rest(session, ctx, edge, &rest).await;
        if let Err(e) = &fetched {
            if *e.esource() == ErrorSource::Downstream {
                // the player left: nobody to complete the body for
                return fetched;
            }
        }
        let outcome = match &fetched {
            Ok(()) => "completed",
            Err(e) if e.etype == ErrorType::InvalidHTTPHeader => "mismatch",
            Err(_) => "failed",
        };
        count(&group.name, &origin.name, outcome);
        let health = match &fetched {
            Err(e) if e.etype != ErrorType::InvalidHTTPHeader => {
                Outcome::of_error(&e.etype).unwrap_or(Outcome::Truncated)
            }
            _ => Outcome::Ok,
        };
        group.report(index, Some(Traffic::Media), health, Instant::now());
        tracing::info!(group = %group.name, origin = %origin.name, path = %ctx.shard_key, from, length = rest.validators.length, shared = rest.fill.is_some(), outcome, "completing a cut media body");
    }
}

fn count(group: &str, origin: &str, outcome: &str) {
    metrics::ORIGIN_RESUMES
        .with_label_values(&[group, origin, outcome])
        .inc();
}

/// Asks the current origin for the rest and passes what arrives to the fill and the
/// player. An answer that is not the same object is `InvalidHTTPHeader` (nothing used).
async fn fetch_rest(
    session: &mut Session,
    ctx: &mut RequestCtx,
    edge: &Resumer<'_>,
    rest: &Rest,
) -> Result<()> {
    let origin = ctx
        .origin
        .clone()
        .ok_or_else(|| Error::explain(ErrorType::InternalError, "no origin"))?;
    let (from, last) = rest.to_fetch(ctx);
    let mut req = session.req_header().clone();
    for name in [
        http::header::IF_NONE_MATCH,
        http::header::IF_MODIFIED_SINCE,
        http::header::IF_MATCH,
        http::header::IF_UNMODIFIED_SINCE,
        http::header::IF_RANGE,
        http::header::RANGE,
    ] {
        req.remove_header(&name);
    }
    upstream_request::prepare(&mut req, ctx, edge.keys, edge.edge_id, edge.peer_secret)?;
    req.set_method(http::Method::GET);
    req.insert_header(http::header::RANGE, format!("bytes={from}-{last}"))?;
    if let Some(v) = rest.validators.if_range() {
        req.insert_header(http::header::IF_RANGE, v)?;
    }
    let peer = origin.peer();
    let (mut upstream, _reused) = edge.connector.get_http_session(&*peer).await?;
    upstream.set_read_timeout(peer.options.read_timeout);
    upstream.set_write_timeout(peer.options.write_timeout);
    upstream.write_request_header(Box::new(req)).await?;
    upstream.finish_request_body().await?;
    upstream.read_response_header().await?;
    let same = upstream
        .response_header()
        .is_some_and(|resp| rest.validators.matches_range(resp, from, last));
    if !same {
        return Error::e_explain(ErrorType::InvalidHTTPHeader, "not the same object");
    }
    let mut offset = from;
    while let Some(chunk) = upstream.read_response_body().await? {
        if let Some(fill) = &rest.fill {
            fill.append(chunk.clone());
        }
        let len = chunk.len() as u64;
        send_part(session, ctx, &rest.validators, chunk, offset).await?;
        offset += len;
    }
    if !rest.done(ctx) {
        return Error::e_explain(ErrorType::ConnectionClosed, "the rest was cut short too");
    }
    session.downstream_session.finish_body().await?;
    Ok(())
}

/// Sends the player the part of `chunk` (the object's bytes from `offset`) it still needs:
/// from where it is to the end of its range.
async fn send_part(
    session: &mut Session,
    ctx: &mut RequestCtx,
    validators: &MediaValidators,
    chunk: Bytes,
    offset: u64,
) -> Result<()> {
    let next = validators.first + ctx.body_bytes as u64;
    let end = (offset + chunk.len() as u64).min(validators.last + 1);
    if next < offset || next >= end {
        return Ok(());
    }
    let part = chunk.slice((next - offset) as usize..(end - offset) as usize);
    ctx.body_bytes += part.len();
    session.write_response_body(Some(part), false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(headers: &[(&str, &str)]) -> ResponseHeader {
        let mut resp = ResponseHeader::build(200, None).expect("status");
        for (k, v) in headers {
            resp.insert_header(k.to_string(), *v).expect("header");
        }
        resp
    }

    #[test]
    fn only_a_whole_object_with_validators_can_be_completed() {
        let etag = full(&[("content-length", "1000"), ("etag", "\"abc\"")]);
        let v = MediaValidators::of(&etag).expect("strong etag");
        assert_eq!((v.first, v.last, v.length), (0, 999, 1000));
        let dated = full(&[
            ("content-length", "10"),
            ("last-modified", "Wed, 02 Dec 2026 05:36:02 GMT"),
        ]);
        assert!(MediaValidators::of(&dated).is_some());
        assert!(
            MediaValidators::of(&full(&[("content-length", "10"), ("etag", "W/\"weak\"")]))
                .is_none()
        );
        assert!(
            MediaValidators::of(&full(&[("etag", "\"x\"")])).is_none(),
            "no length"
        );
        let mut partial = etag.clone();
        partial.set_status(206).expect("status");
        assert!(MediaValidators::of(&partial).is_none());
    }

    #[test]
    fn a_players_range_narrows_what_is_completed() {
        let v = MediaValidators::of(&full(&[("content-length", "1000"), ("etag", "\"abc\"")]))
            .expect("v");
        let r = |range| v.clone().for_range(Some(range)).map(|v| (v.first, v.last));
        assert_eq!(r("bytes=0-"), Some((0, 999)));
        assert_eq!(r("bytes=100-199"), Some((100, 199)));
        assert_eq!(r("bytes=100-5000"), Some((100, 999)));
        assert_eq!(r("bytes=-100"), None, "suffix ranges are not completed");
        assert_eq!(r("bytes=0-1,5-9"), None);
        assert_eq!(r("bytes=2000-"), None);
    }

    #[test]
    fn the_rest_must_be_the_same_object_and_the_asked_range() {
        let v = MediaValidators::of(&full(&[("content-length", "1000"), ("etag", "\"abc\"")]))
            .expect("v");
        let mut rest = ResponseHeader::build(206, None).expect("status");
        rest.insert_header("etag", "\"abc\"").expect("h");
        rest.insert_header("content-range", "bytes 500-999/1000")
            .expect("h");
        assert!(v.matches_range(&rest, 500, 999));
        assert!(!v.matches_range(&rest, 400, 999), "another range");
        rest.insert_header("etag", "\"other\"").expect("h");
        assert!(!v.matches_range(&rest, 500, 999), "another object");
        let mut whole = rest.clone();
        whole.set_status(200).expect("status");
        assert!(
            !v.matches_range(&whole, 500, 999),
            "If-Range said it changed"
        );
    }
}
