// The collector that runs inside the player page: plays one URL with hls.js
// into the muted <video> and records what a viewer and hls.js go through
// (first frame, stalls, every hls.js error, playlist and fragment loads with
// their HTTP statuses, live latency). play.mjs drives it through
// `window.rig.start(opts)`, polls `window.rig.status()` and reads
// `window.rig.report()` once at the end. It owns no timing policy: how long
// to watch and when to give up is play.mjs's decision.
(function () {
  'use strict';

  const t0 = performance.now();
  const now = () => Math.round(performance.now() - t0);
  const SAMPLE_MS = 250;
  const LOG_TAIL = 200;

  const s = {
    opts: null,
    hls: null,
    video: null,
    loadStartedMs: null,
    firstFrameMs: null,
    firstCurrentTime: null,
    fatal: null,
    playRejected: null,
    errors: [],
    bufferStalledErrors: 0,
    stalls: [],
    stallStart: null,
    lastTime: null,
    lastAdvanceMs: null,
    longestFreezeMs: 0,
    seeks: 0,
    latency: [],
    wallclockLatency: [],
    targetLatency: [],
    bufferAhead: [],
    playlists: [],
    fragments: [],
    levelSwitches: [],
    log: [],
  };

  function note(line) {
    s.log.push(`${now()}ms ${line}`);
    if (s.log.length > 2000) s.log.shift();
    if (s.opts && s.opts.verbose) console.log(`[rig] ${now()}ms ${line}`);
  }

  function statusOf(details) {
    return details && typeof details.status === 'number' ? details.status : null;
  }

  function loadMs(stats) {
    if (!stats || !stats.loading) return null;
    const { start, end } = stats.loading;
    return start && end ? Math.round(end - start) : null;
  }

  // A custom header or query on every request hls.js makes, as a player
  // carrying a token would: a header makes the browser send a CORS preflight
  // (Fetch standard, "CORS-preflight request"), as it would in production.
  function withExtras(config, headers, query) {
    const names = Object.keys(headers || {});
    if (!names.length && !query) return config;
    const addQuery = (url) => {
      if (!query) return url;
      const [base, hash] = url.split('#', 2);
      const joined = base + (base.includes('?') ? '&' : '?') + query;
      return hash === undefined ? joined : `${joined}#${hash}`;
    };
    config.xhrSetup = (xhr, url) => {
      xhr.open('GET', addQuery(url), true);
      for (const name of names) xhr.setRequestHeader(name, headers[name]);
    };
    config.fetchSetup = (context, init) => {
      const h = new Headers(init.headers || {});
      for (const name of names) h.set(name, headers[name]);
      return new Request(addQuery(context.url), { ...init, headers: h });
    };
    return config;
  }

  function onVideoEvents(video) {
    video.addEventListener('waiting', () => {
      if (s.firstFrameMs !== null && s.stallStart === null) {
        s.stallStart = now();
        note(`waiting at ${video.currentTime.toFixed(3)}`);
      }
    });
    video.addEventListener('playing', () => {
      endStall('playing');
    });
    video.addEventListener('seeking', () => {
      s.seeks += 1;
      note(`seeking to ${video.currentTime.toFixed(3)}`);
    });
    video.addEventListener('error', () => {
      const e = video.error;
      s.errors.push({
        at_ms: now(),
        fatal: true,
        type: 'mediaElementError',
        details: `MediaError code ${e ? e.code : '?'}`,
        response_code: null,
        url: null,
        reason: e ? e.message : null,
      });
      s.fatal = s.fatal || 'mediaElementError';
      note(`video error ${e ? e.code : '?'} ${e ? e.message : ''}`);
    });
    // The first frame actually composited, not merely a play() promise.
    if (video.requestVideoFrameCallback) {
      video.requestVideoFrameCallback(() => firstFrame('video frame presented'));
    }
  }

  function firstFrame(how) {
    if (s.firstFrameMs !== null) return;
    s.firstFrameMs = now();
    s.firstCurrentTime = s.video.currentTime;
    s.lastTime = s.video.currentTime;
    s.lastAdvanceMs = s.firstFrameMs;
    note(`first frame (${how}) at currentTime ${s.video.currentTime.toFixed(3)}`);
  }

  function endStall(how) {
    if (s.stallStart === null) return;
    const ms = now() - s.stallStart;
    s.stalls.push(ms);
    s.stallStart = null;
    note(`stall ended (${how}) after ${ms}ms`);
  }

  function onHlsEvents(hls) {
    const E = Hls.Events;
    hls.on(E.MANIFEST_LOADED, (_, d) => {
      playlist('manifest', d.url, d.networkDetails, d.stats, null);
    });
    hls.on(E.MANIFEST_PARSED, (_, d) => {
      note(`manifest parsed: ${d.levels.length} levels`);
      s.video.play().catch((e) => {
        s.playRejected = String(e);
        note(`play() rejected: ${e}`);
      });
    });
    hls.on(E.LEVEL_LOADED, (_, d) => {
      const url = d.details && d.details.url;
      playlist('level', url, d.networkDetails, d.stats, d.deliveryDirectives, d.level);
    });
    hls.on(E.AUDIO_TRACK_LOADED, (_, d) => {
      playlist('audio', d.details && d.details.url, d.networkDetails, d.stats, d.deliveryDirectives);
    });
    hls.on(E.SUBTITLE_TRACK_LOADED, (_, d) => {
      playlist('subtitle', d.details && d.details.url, d.networkDetails, d.stats, d.deliveryDirectives);
    });
    hls.on(E.FRAG_LOADED, (_, d) => fragment(d));
    hls.on(E.LEVEL_SWITCHED, (_, d) => {
      s.levelSwitches.push({ at_ms: now(), level: d.level });
      note(`level switched to ${d.level}`);
    });
    hls.on(E.ERROR, (_, d) => hlsError(d));
  }

  function playlist(kind, url, details, stats, directives, level) {
    const blocking = !!(directives && directives.msn !== undefined);
    const status = statusOf(details);
    s.playlists.push({ kind, level: level === undefined ? null : level, url: url || null,
      status, ms: loadMs(stats), blocking });
    note(`${kind} playlist ${status} ${url}${blocking ? ' (blocking)' : ''}`);
  }

  function fragment(d) {
    const { frag, part } = d;
    const stats = part ? part.stats : frag.stats;
    const url = part ? part.url : frag.url;
    const status = statusOf(d.networkDetails);
    s.fragments.push({
      type: frag.type,
      sn: typeof frag.sn === 'number' ? frag.sn : null,
      level: frag.level,
      part: part ? part.index : null,
      url,
      status,
      // the payload itself is handed to the transmuxer (detached) by now
      bytes: stats ? stats.loaded : null,
      ms: loadMs(stats),
    });
    note(`${part ? 'part' : 'fragment'} ${frag.type} sn=${frag.sn} ${status} ${url}`);
  }

  function hlsError(d) {
    const details = d.networkDetails;
    const code = d.response && typeof d.response.code === 'number'
      ? d.response.code : statusOf(details);
    const url = d.url || (d.response && d.response.url)
      || (d.part && d.part.url) || (d.frag && d.frag.url) || (d.context && d.context.url) || null;
    const reason = d.reason || (d.error && d.error.message) || (d.response && d.response.text) || null;
    s.errors.push({ at_ms: now(), fatal: !!d.fatal, type: d.type, details: d.details,
      response_code: code === undefined ? null : code, url, reason });
    if (d.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) s.bufferStalledErrors += 1;
    if (d.fatal && !s.fatal) s.fatal = d.details;
    note(`hls.js ${d.fatal ? 'FATAL' : 'error'} ${d.type}/${d.details} ${code || ''} ${url || ''} ${reason || ''}`);
  }

  // Freezes seen by sampling (a stall the media element never announced with
  // `waiting` still shows as currentTime standing still), and each second a
  // latency sample while the stream is live.
  function sample(tick) {
    const v = s.video;
    if (s.firstFrameMs === null) {
      // Fallback for a browser without requestVideoFrameCallback.
      if (v.currentTime > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 0
        && !v.requestVideoFrameCallback) firstFrame('currentTime advanced');
      return;
    }
    if (v.currentTime > s.lastTime + 0.001 || v.currentTime < s.lastTime - 0.001) {
      s.lastAdvanceMs = now();
      s.lastTime = v.currentTime;
    } else if (!v.paused && !v.ended) {
      s.longestFreezeMs = Math.max(s.longestFreezeMs, now() - s.lastAdvanceMs);
    }
    if (tick % Math.round(1000 / SAMPLE_MS) === 0) latencySample();
  }

  function latencySample() {
    const hls = s.hls;
    const live = hls.latestLevelDetails && hls.latestLevelDetails.live;
    const v = s.video;
    for (let i = 0; i < v.buffered.length; i += 1) {
      if (v.buffered.start(i) <= v.currentTime + 0.1 && v.buffered.end(i) >= v.currentTime) {
        s.bufferAhead.push(v.buffered.end(i) - v.currentTime);
        break;
      }
    }
    if (!live) return;
    if (Number.isFinite(hls.latency) && hls.latency > 0) s.latency.push(hls.latency);
    if (Number.isFinite(hls.targetLatency)) s.targetLatency.push(hls.targetLatency);
    const date = hls.playingDate;
    if (date && !Number.isNaN(date.getTime())) s.wallclockLatency.push((Date.now() - date.getTime()) / 1000);
  }

  function start(opts) {
    s.opts = opts;
    s.video = document.getElementById('video');
    s.video.muted = true;
    onVideoEvents(s.video);
    if (!window.Hls || !Hls.isSupported()) {
      s.fatal = 'hlsjsUnsupported';
      s.errors.push({ at_ms: now(), fatal: true, type: 'rigError', details: 'hlsjsUnsupported',
        response_code: null, url: null, reason: 'hls.js reports no MediaSource support' });
      return;
    }
    const config = withExtras(Object.assign({}, opts.config || {}), opts.headers, opts.query);
    const hls = new Hls(config);
    s.hls = hls;
    window.hls = hls;
    onHlsEvents(hls);
    hls.attachMedia(s.video);
    s.loadStartedMs = now();
    hls.loadSource(opts.url);
    note(`hls.js ${Hls.version} loading ${opts.url}`);
    let tick = 0;
    setInterval(() => { tick += 1; sample(tick); }, SAMPLE_MS);
  }

  function status() {
    return {
      started: s.firstFrameMs !== null,
      fatal: s.fatal,
      ended: !!(s.video && s.video.ended),
    };
  }

  function median(xs) {
    if (!xs.length) return null;
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }

  const max = (xs) => (xs.length ? Math.max(...xs) : null);
  const round3 = (x) => (x === null || x === undefined ? null : Math.round(x * 1000) / 1000);

  function playedSeconds(v) {
    let sum = 0;
    for (let i = 0; i < v.played.length; i += 1) sum += v.played.end(i) - v.played.start(i);
    return sum;
  }

  function report() {
    const v = s.video;
    if (s.stallStart !== null) endStall('still stalled at the end');
    const quality = v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
    return {
      hlsjs_version: window.Hls ? Hls.version : null,
      started: s.firstFrameMs !== null,
      time_to_first_frame_ms: s.firstFrameMs === null || s.loadStartedMs === null
        ? null : s.firstFrameMs - s.loadStartedMs,
      played_seconds: v ? round3(playedSeconds(v)) : 0,
      current_time: { first: round3(s.firstCurrentTime), last: v ? round3(v.currentTime) : null },
      video_frames: {
        decoded: quality ? quality.totalVideoFrames : null,
        dropped: quality ? quality.droppedVideoFrames : null,
      },
      decoded_bytes: {
        video: v && 'webkitVideoDecodedByteCount' in v ? v.webkitVideoDecodedByteCount : null,
        audio: v && 'webkitAudioDecodedByteCount' in v ? v.webkitAudioDecodedByteCount : null,
      },
      play_rejected: s.playRejected,
      stalls: {
        count: s.stalls.length,
        durations_ms: s.stalls,
        longest_ms: max(s.stalls) || 0,
        longest_freeze_ms: s.longestFreezeMs,
        buffer_stalled_errors: s.bufferStalledErrors,
      },
      seeks: s.seeks,
      fatal: s.fatal,
      errors: s.errors,
      latency: {
        samples: s.latency.length,
        median_s: round3(median(s.latency)),
        max_s: round3(max(s.latency)),
        target_median_s: round3(median(s.targetLatency)),
        wallclock_median_s: round3(median(s.wallclockLatency)),
        wallclock_max_s: round3(max(s.wallclockLatency)),
      },
      buffer_ahead_median_s: round3(median(s.bufferAhead)),
      playlists: s.playlists,
      fragments: s.fragments,
      level_switches: s.levelSwitches,
      counts: {
        fragments: s.fragments.filter((f) => f.part === null).length,
        parts: s.fragments.filter((f) => f.part !== null).length,
        manifest_loads: s.playlists.filter((p) => p.kind === 'manifest').length,
        level_loads: s.playlists.filter((p) => p.kind === 'level').length,
        track_loads: s.playlists.filter((p) => p.kind === 'audio' || p.kind === 'subtitle').length,
        blocking_reloads: s.playlists.filter((p) => p.blocking).length,
      },
      // the last lines of what happened, for a failing test's message
      log: s.log.slice(-LOG_TAIL),
    };
  }

  window.rig = { start, status, report };
})();
