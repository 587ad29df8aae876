//! Stopping a run: the stop signal, `grace` to exit, then SIGKILL; and releasing its runtime resources (cgroup,
//! rootfs mount, runtime record) once it has exited. The bundle (exit record) and the log stay for status and
//! `kubectl logs --previous`.

use std::str::FromStr;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::runs::{self, Run};
use super::Ctx;

/// Waits up to `limit` for the shim's exit record.
async fn wait_exit(run: &mut Run, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        run.refresh();
        if run.exit.is_some() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn signal(ctx: &Ctx, run: &Run, sig: Signal) {
    match skiff_runtime::Container::load(&ctx.layout.runtime_state(), &run.meta.id) {
        Ok(Some(c)) => {
            if let Err(e) = skiff_runtime::kill(&c, sig) {
                tracing::warn!(id = %run.meta.id, error = %e, "signalling a container");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(id = %run.meta.id, error = %e, "loading a container record"),
    }
}

/// Stops the run if it runs (stop signal, `grace`, SIGKILL), then releases it.
pub async fn stop(ctx: &Ctx, run: &mut Run, grace: Duration) {
    run.refresh();
    if run.running() {
        let sig = Signal::from_str(&run.meta.stop_signal).unwrap_or(Signal::SIGTERM);
        signal(ctx, run, sig);
        if !wait_exit(run, grace).await {
            signal(ctx, run, Signal::SIGKILL);
            if !wait_exit(run, Duration::from_secs(10)).await {
                // the shim is gone (killed by someone): record the kill ourselves
                tracing::warn!(id = %run.meta.id, "no exit record after SIGKILL; recording one");
                run.exit = runs::write_start_failure(&run.dir, 137, &crate::now_rfc3339()).ok().map(|mut e| {
                    e.signal = Some("SIGKILL".into());
                    e
                });
            }
        }
    }
    release(ctx, run).await;
}

/// Removes the run's runtime resources (idempotent) and its writable layer.
pub async fn release(ctx: &Ctx, run: &mut Run) {
    if run.released {
        return;
    }
    let (state, id, rootfs) = (ctx.layout.runtime_state(), run.meta.id.clone(), run.dir.join("rootfs"));
    let result = tokio::task::spawn_blocking(move || {
        skiff_runtime::destroy_by_id(&state, &id).map_err(|e| e.to_string())?;
        match std::fs::remove_dir_all(&rootfs) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("removing {}: {e}", rootfs.display())),
        }
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    match result {
        Ok(()) => run.released = true,
        Err(e) => tracing::warn!(id = %run.meta.id, error = %e, "releasing a container"),
    }
}
