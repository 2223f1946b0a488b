#!/usr/bin/env python3
"""Writes the tidepool Grafana dashboards (tidepool-*.json) next to this file.

The JSON files are committed; edit this script and rerun it
(`python3 dashboards/grafana/generate.py`) rather than editing them by hand,
so the four dashboards keep the same variables, links and conventions.
tests/dashboards.rs runs every target's PromQL against a real Prometheus.
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}

# Selectors with the dashboard variables. All four are multi-select with All:
# `pool` and `lock` All is `.*`; `job` and `instance` All is the values found.
#
# Many instances: every tidepool process exports `job` (one per fleet) and
# `instance` (one per process). Panels aggregate over the selected instances
# by job (`sum by (job, ...)`, histograms summed by bucket before the
# quantile); each dashboard's last row, "By instance", draws one line per
# instance (legend `{{instance}}`), and choosing instances in `$instance`
# narrows every panel to them: the drill-down.
JI = 'job=~"$job", instance=~"$instance"'
POOL = JI + ', pool=~"$pool"'
LOCK = JI + ', lock=~"$lock"'
BY_INSTANCE = "{{instance}} ({{job}})"


def variables():
    # All: `job` and `instance` expand to the values found (jobs that export
    # tidepool_* series, so process_* of other jobs stay out); `pool` and
    # `lock` to `.*`.
    def query_var(name, label, query, all_value):
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": DS,
            "definition": query,
            "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2,
            "sort": 1,
            "multi": True,
            "includeAll": True,
            "allValue": all_value,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "hide": 0,
            "regex": "",
            "options": [],
        }

    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "options": [],
        },
        query_var("job", "Job", 'label_values({__name__=~"tidepool_.+"}, job)', None),
        query_var("instance", "Instance", 'label_values({__name__=~"tidepool_.+", job=~"$job"}, instance)', None),
        query_var("pool", "Pool", 'label_values(tidepool_pool_objects{job=~"$job", instance=~"$instance"}, pool)', ".*"),
        query_var(
            "lock", "Lock", 'label_values(tidepool_lock_acquisitions_total{job=~"$job", instance=~"$instance"}, lock)', ".*"
        ),
    ]


def target(expr, legend="", ref="A", **extra):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": ref, "range": True}
    t.update(extra)
    return t


def thresholds(*steps):
    """steps: (value, color); the first has value None (the base)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


FLOOR_COLORS = ["green", "yellow", "orange", "red"]


def floors(*values):
    return thresholds((None, "green"), *zip(values, FLOOR_COLORS[1:]))


def panel(kind, title, description, targets, unit=None, w=12, h=8, th=None, show_thresholds=False, **opts):
    defaults = {"unit": unit} if unit else {}
    if th:
        defaults["thresholds"] = th
    if kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": False,
            "thresholdsStyle": {"mode": "line+area" if show_thresholds else "off"},
        }
        if opts.pop("stack", False):
            defaults["custom"]["stacking"] = {"mode": "normal", "group": "A"}
    if "min" in opts:
        defaults["min"] = opts.pop("min")
    if "max" in opts:
        defaults["max"] = opts.pop("max")
    if "mappings" in opts:
        defaults["mappings"] = opts.pop("mappings")
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [dict(t, refId=chr(ord("A") + i)) for i, t in enumerate(targets)],
        "fieldConfig": {"defaults": defaults, "overrides": opts.pop("overrides", [])},
        "options": opts.pop("options", {}),
        "_size": (w, h),
    }
    if kind == "timeseries":
        p["options"].setdefault("legend", {"displayMode": "table", "placement": "bottom", "showLegend": True, "calcs": ["lastNotNull", "max"]})
        p["options"].setdefault("tooltip", {"mode": "multi", "sort": "desc"})
    if kind == "stat":
        p["options"].setdefault("reduceOptions", {"calcs": ["lastNotNull"], "fields": "", "values": False})
        p["options"].setdefault("colorMode", "value")
        p["options"].setdefault("graphMode", "area")
    assert not opts, opts
    return p


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "_size": (24, 1)}


def layout(panels):
    x = y = 0
    line_h = 0
    out = []
    for i, p in enumerate(panels, start=1):
        w, h = p.pop("_size")
        if x + w > 24 or p["type"] == "row":
            if x:
                y += line_h
            x, line_h = 0, 0
        p["id"] = i
        p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        x += w
        line_h = max(line_h, h)
        if p["type"] == "row":
            y += h
            x, line_h = 0, 0
        out.append(p)
    return out


def dashboard(uid, title, description, panels, annotations=(), extra_vars=()):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["tidepool"],
        "editable": True,
        "graphTooltip": 1,
        "id": None,
        "refresh": "10s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "links": [
            {
                "type": "dashboards",
                "tags": ["tidepool"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "title": "tidepool dashboards",
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
            + list(annotations)
        },
        "templating": {"list": variables() + list(extra_vars)},
        "panels": layout(panels),
    }


def instances_stat(family):
    """The number of instances of each selected job exporting `family`."""
    return panel("stat", "Instances", f"Instances of each selected job that export {family.replace('.+', '*')} series: the processes the panels above add up.",
                 [target(f'count by (job) (group by (job, instance) ({{__name__=~"{family}", {JI}}}))', "{{job}}")],
                 unit="short", w=4, h=8, options={"graphMode": "none", "textMode": "value_and_name"})


def by_instance_row():
    return row("By instance (drill-down: pick instances in the Instance variable to narrow every panel)")


def quantile(q, metric, sel, by):
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{sel}}}[$__rate_interval])))"


# --------------------------------------------------------------------------
# Overview: the pools.
# --------------------------------------------------------------------------

size = f"sum by (job, pool) (tidepool_pool_objects{{{POOL}}})"
used = f'sum by (job, pool) (tidepool_pool_objects{{{POOL}, state="used"}})'
size_i = f"sum by (job, instance) (tidepool_pool_objects{{{POOL}}})"
used_i = f'sum by (job, instance) (tidepool_pool_objects{{{POOL}, state="used"}})'

overview = dashboard(
    "tidepool-overview",
    "tidepool / Pools overview",
    "Acquire rate, failures, wait, utilization and sizing of tidepool pools.",
    [
        panel("stat", "Acquires/s", "Successful acquires per second of each selected job: all its selected instances and pools.",
              [target(f"sum by (job) (rate(tidepool_pool_acquires_total{{{POOL}}}[$__rate_interval]))", "{{job}}")],
              unit="ops", w=6, h=4),
        panel("stat", "Wait p99 (worst pool)", "Per job, the highest acquire wait p99 among the selected pools (each pool's buckets summed over the selected instances); colors at the monitor's floors (10 / 25 / 50 ms).",
              [target(f"max by (job) ({quantile(0.99, 'tidepool_pool_wait_seconds', POOL, 'job, pool')})", "{{job}}")],
              unit="s", w=6, h=4, th=floors(0.010, 0.025, 0.050)),
        panel("stat", "Utilization (busiest pool)", "Per job, objects in use over objects alive (summed over the selected instances), the busiest selected pool.",
              [target(f"max by (job) ({used} / {size})", "{{job}}")],
              unit="percentunit", w=6, h=4, th=floors(0.70, 0.90, 0.98), min=0, max=1),
        panel("stat", "Failed acquires in range", "Per job, timeouts plus factory errors over the dashboard's time range.",
              [target(f"sum by (job) (increase(tidepool_pool_timeouts_total{{{POOL}}}[$__range])) + sum by (job) (increase(tidepool_pool_factory_errors_total{{{POOL}}}[$__range]))", "{{job}}", instant=True, range=False)],
              unit="short", w=6, h=4, th=thresholds((None, "green"), (1, "red")), options={"graphMode": "none"}),
        row("Throughput and failures"),
        panel("timeseries", "Acquires/s by path", "Successful acquires per second by job, pool and path: direct (an idle object was there) or waited (queued first).",
              [target(f"sum by (job, pool, path) (rate(tidepool_pool_acquires_total{{{POOL}}}[$__rate_interval]))", "{{job}} {{pool}} {{path}}")],
              unit="ops", stack=True),
        panel("timeseries", "Errors and timeouts", "Per second: acquires that timed out, acquires failed by the factory, and guards held past the leak threshold.",
              [target(f"sum by (job, pool) (rate(tidepool_pool_timeouts_total{{{POOL}}}[$__rate_interval]))", "{{job}} {{pool}} timeouts"),
               target(f"sum by (job, pool) (rate(tidepool_pool_factory_errors_total{{{POOL}}}[$__rate_interval]))", "{{job}} {{pool}} factory errors"),
               target(f"sum by (job, pool) (rate(tidepool_pool_leaks_total{{{POOL}}}[$__rate_interval]))", "{{job}} {{pool}} leaks")],
              unit="ops"),
        row("Latency"),
        panel("timeseries", "Acquire wait p50 / p99", "Time from asking to holding an object, from the wait histogram (direct acquires count as 0). Threshold lines at the monitor's floors: 10 / 25 / 50 ms.",
              [target(quantile(0.5, "tidepool_pool_wait_seconds", POOL, "job, pool"), "{{job}} {{pool}} p50"),
               target(quantile(0.99, "tidepool_pool_wait_seconds", POOL, "job, pool"), "{{job}} {{pool}} p99")],
              unit="s", th=floors(0.010, 0.025, 0.050), show_thresholds=True, min=0),
        panel("timeseries", "Hold and create time p50 / p99", "How long callers hold an object (use histogram) and how long the factory takes to create one (create histogram).",
              [target(quantile(0.5, "tidepool_pool_use_seconds", POOL, "job, pool"), "{{job}} {{pool}} hold p50"),
               target(quantile(0.99, "tidepool_pool_use_seconds", POOL, "job, pool"), "{{job}} {{pool}} hold p99"),
               target(quantile(0.99, "tidepool_pool_create_seconds", POOL, "job, pool"), "{{job}} {{pool}} create p99")],
              unit="s", min=0),
        row("Capacity"),
        panel("timeseries", "Utilization", "Objects in use over objects alive (used / size), and objects in use over the configured maximum (the starvation signal, 70 / 90 / 98 % floors).",
              [target(f"{used} / {size}", "{{job}} {{pool}} used / size"),
               target(f"{used} / sum by (job, pool) (tidepool_pool_size_max{{{POOL}}})", "{{job}} {{pool}} used / max")],
              unit="percentunit", min=0, max=1, th=floors(0.70, 0.90, 0.98), show_thresholds=True),
        panel("timeseries", "Size against min / max / target", "Objects alive and in use, against the adaptive size target and the configured bounds, summed over the selected instances.",
              [target(size, "{{job}} {{pool}} size"),
               target(used, "{{job}} {{pool}} in use"),
               target(f"sum by (job, pool) (tidepool_pool_size_target{{{POOL}}})", "{{job}} {{pool}} target"),
               target(f"sum by (job, pool) (tidepool_pool_size_min{{{POOL}}})", "{{job}} {{pool}} min"),
               target(f"sum by (job, pool) (tidepool_pool_size_max{{{POOL}}})", "{{job}} {{pool}} max")],
              unit="short", min=0,
              overrides=[{"matcher": {"id": "byRegexp", "options": ".* (min|max)$"},
                          "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                                         {"id": "custom.fillOpacity", "value": 0}]}]),
        panel("timeseries", "Reuse ratio", "Acquires served by an existing object over all acquires, since the pool was built (the lowest of the selected instances).",
              [target(f"min by (job, pool) (tidepool_pool_reuse_ratio{{{POOL}}})", "{{job}} {{pool}}")],
              unit="percentunit", min=0, max=1),
        panel("timeseries", "Pending requests", "Callers waiting for an object right now.",
              [target(f"sum by (job, pool) (tidepool_pool_pending_requests{{{POOL}}})", "{{job}} {{pool}}")],
              unit="short", min=0),
        by_instance_row(),
        instances_stat("tidepool_pool_.+"),
        panel("timeseries", "Acquires/s by instance", "Successful acquires per second of each selected instance, all selected pools: the lines add up to the job's Acquires/s.",
              [target(f"sum by (job, instance) (rate(tidepool_pool_acquires_total{{{POOL}}}[$__rate_interval]))", BY_INSTANCE)],
              unit="ops", w=10, min=0),
        panel("timeseries", "Wait p99 by instance", "Acquire wait p99 of each selected instance, all selected pools; threshold lines at the monitor's floors (10 / 25 / 50 ms).",
              [target(quantile(0.99, "tidepool_pool_wait_seconds", POOL, "job, instance"), BY_INSTANCE)],
              unit="s", w=10, min=0, th=floors(0.010, 0.025, 0.050), show_thresholds=True),
        panel("timeseries", "Utilization by instance", "Objects in use over objects alive of each selected instance, all selected pools.",
              [target(f"{used_i} / {size_i}", BY_INSTANCE)],
              unit="percentunit", min=0, max=1, th=floors(0.70, 0.90, 0.98)),
        panel("timeseries", "Failed acquires/s by instance", "Timeouts plus factory errors per second of each selected instance.",
              [target(f"sum by (job, instance) (rate(tidepool_pool_timeouts_total{{{POOL}}}[$__rate_interval])) + sum by (job, instance) (rate(tidepool_pool_factory_errors_total{{{POOL}}}[$__rate_interval]))", BY_INSTANCE)],
              unit="ops", min=0),
    ],
)

# --------------------------------------------------------------------------
# Locks: profiled locks.
# --------------------------------------------------------------------------

contentions = f"sum by (job, lock, mode) (rate(tidepool_lock_contentions_total{{{LOCK}}}[$__rate_interval]))"
lock_acquisitions = f"sum by (job, lock, mode) (rate(tidepool_lock_acquisitions_total{{{LOCK}}}[$__rate_interval]))"
contentions_i = f"sum by (job, instance) (rate(tidepool_lock_contentions_total{{{LOCK}}}[$__rate_interval]))"
lock_acquisitions_i = f"sum by (job, instance) (rate(tidepool_lock_acquisitions_total{{{LOCK}}}[$__rate_interval]))"

locks = dashboard(
    "tidepool-locks",
    "tidepool / Locks",
    "Contention, wait and hold of tidepool's profiled locks (ProfiledMutex, ProfiledRwLock).",
    [
        panel("bargauge", "Most contended locks in range", "The ten lock modes with the most contended acquisitions over the time range.",
              [target(f"topk(10, sum by (job, lock, mode) (increase(tidepool_lock_contentions_total{{{LOCK}}}[$__range])))", "{{job}} {{lock}} {{mode}}", instant=True, range=False)],
              unit="short", w=8, h=8, min=0,
              options={"displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True,
                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}),
        panel("timeseries", "Top 5 contention rate", "Contended acquisitions per second of the five most contended lock modes at each instant.",
              [target(f"topk(5, {contentions})", "{{job}} {{lock}} {{mode}}")], unit="ops", w=16, h=8),
        row("Contention"),
        panel("timeseries", "Contention ratio", "Contended acquisitions over all acquisitions, per lock mode.",
              [target(f"{contentions} / {lock_acquisitions}", "{{job}} {{lock}} {{mode}}")], unit="percentunit", min=0),
        panel("timeseries", "Acquisitions/s", "Successful acquisitions per second, per lock mode.",
              [target(lock_acquisitions, "{{job}} {{lock}} {{mode}}")], unit="ops", min=0),
        panel("timeseries", "Mean wait per acquisition", "Total wait over acquisitions: the monitor's lock_contention signal; threshold lines at its floors (1 / 3 / 10 ms).",
              [target(f"sum by (job, lock, mode) (rate(tidepool_lock_wait_seconds_sum{{{LOCK}}}[$__rate_interval])) / {lock_acquisitions}", "{{job}} {{lock}} {{mode}}")],
              unit="s", min=0, th=floors(0.001, 0.003, 0.010), show_thresholds=True),
        panel("timeseries", "Timeouts, slow acquires, long holds, owner changes", "Per second: timed attempts that gave up, waits and sampled holds at or above the slow threshold (10 ms), and hand-offs to a different thread.",
              [target(f"sum by (job, lock, mode) (rate(tidepool_lock_timeouts_total{{{LOCK}}}[$__rate_interval]))", "{{job}} {{lock}} {{mode}} timeouts"),
               target(f"sum by (job, lock, mode) (rate(tidepool_lock_slow_acquires_total{{{LOCK}}}[$__rate_interval]))", "{{job}} {{lock}} {{mode}} slow acquires"),
               target(f"sum by (job, lock, mode) (rate(tidepool_lock_long_holds_total{{{LOCK}}}[$__rate_interval]))", "{{job}} {{lock}} {{mode}} long holds"),
               target(f"sum by (job, lock, mode) (rate(tidepool_lock_owner_changes_total{{{LOCK}}}[$__rate_interval]))", "{{job}} {{lock}} {{mode}} owner changes")],
              unit="ops", min=0),
        row("Wait distribution"),
        panel("heatmap", "Wait heatmap", "Contended waits per second by histogram bucket, all selected locks.",
              [target(f"sum by (le) (rate(tidepool_lock_wait_seconds_bucket{{{LOCK}}}[$__rate_interval]))", "{{le}}", format="heatmap")],
              options={"calculate": False, "yAxis": {"unit": "s"}, "cellGap": 1, "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark-orange", "scale": "exponential", "exponent": 0.5, "steps": 64},
                       "rowsFrame": {"layout": "auto"}, "tooltip": {"show": True, "yHistogram": False}, "legend": {"show": True}}),
        panel("timeseries", "Wait p50 / p99 / max", "Quantiles of contended waits per lock mode, and the longest wait seen so far.",
              [target(quantile(0.5, "tidepool_lock_wait_seconds", LOCK, "job, lock, mode"), "{{job}} {{lock}} {{mode}} p50"),
               target(quantile(0.99, "tidepool_lock_wait_seconds", LOCK, "job, lock, mode"), "{{job}} {{lock}} {{mode}} p99"),
               target(f"max by (job, lock, mode) (tidepool_lock_wait_max_seconds{{{LOCK}}})", "{{job}} {{lock}} {{mode}} max")],
              unit="s", min=0),
        row("Hold distribution"),
        panel("heatmap", "Hold heatmap (sampled)", "Sampled hold times per second by histogram bucket (one acquisition in N, 64 by default), all selected locks.",
              [target(f"sum by (le) (rate(tidepool_lock_hold_seconds_bucket{{{LOCK}}}[$__rate_interval]))", "{{le}}", format="heatmap")],
              options={"calculate": False, "yAxis": {"unit": "s"}, "cellGap": 1, "color": {"mode": "scheme", "scheme": "Blues", "fill": "dark-blue", "scale": "exponential", "exponent": 0.5, "steps": 64},
                       "rowsFrame": {"layout": "auto"}, "tooltip": {"show": True, "yHistogram": False}, "legend": {"show": True}}),
        panel("timeseries", "Hold p50 / p99 / max", "Quantiles of the sampled hold times per lock mode, and the longest sampled hold so far.",
              [target(quantile(0.5, "tidepool_lock_hold_seconds", LOCK, "job, lock, mode"), "{{job}} {{lock}} {{mode}} p50"),
               target(quantile(0.99, "tidepool_lock_hold_seconds", LOCK, "job, lock, mode"), "{{job}} {{lock}} {{mode}} p99"),
               target(f"max by (job, lock, mode) (tidepool_lock_hold_max_seconds{{{LOCK}}})", "{{job}} {{lock}} {{mode}} max")],
              unit="s", min=0),
        panel("timeseries", "Estimated time held per second", "Growth of the estimated total hold time (sampled holds × N): the fraction of time the lock is held (1 = always held; above 1 for shared modes).",
              [target(f"sum by (job, lock, mode) (rate(tidepool_lock_hold_estimated_seconds{{{LOCK}}}[$__rate_interval]))", "{{job}} {{lock}} {{mode}}")],
              unit="percentunit", min=0, w=24),
        by_instance_row(),
        instances_stat("tidepool_lock_.+"),
        panel("timeseries", "Contention rate by instance", "Contended acquisitions per second of each selected instance, all selected locks.",
              [target(contentions_i, BY_INSTANCE)], unit="ops", w=10, min=0),
        panel("timeseries", "Mean wait per acquisition by instance", "Total wait over acquisitions of each selected instance, all selected locks; threshold lines at the monitor's floors (1 / 3 / 10 ms).",
              [target(f"sum by (job, instance) (rate(tidepool_lock_wait_seconds_sum{{{LOCK}}}[$__rate_interval])) / {lock_acquisitions_i}", BY_INSTANCE)],
              unit="s", w=10, min=0, th=floors(0.001, 0.003, 0.010), show_thresholds=True),
    ],
)

# --------------------------------------------------------------------------
# Memory: the process, caches, pool object churn.
# --------------------------------------------------------------------------

CACHE = JI
rss = f"process_resident_memory_bytes{{{JI}}}"
window_var = {
    "name": "window",
    "label": "Growth window",
    "type": "interval",
    "query": "5m,15m,30m,1h,6h",
    "current": {"selected": True, "text": "15m", "value": "15m"},
    "options": [{"selected": v == "15m", "text": v, "value": v} for v in ["5m", "15m", "30m", "1h", "6h"]],
    "auto": False,
    "hide": 0,
    "refresh": 2,
}
hits = f"sum by (job, cache) (rate(tidepool_cache_hits_total{{{CACHE}}}[$__rate_interval]))"
misses = f"sum by (job, cache) (rate(tidepool_cache_misses_total{{{CACHE}}}[$__rate_interval]))"
hits_i = f"sum by (job, instance) (rate(tidepool_cache_hits_total{{{CACHE}}}[$__rate_interval]))"
misses_i = f"sum by (job, instance) (rate(tidepool_cache_misses_total{{{CACHE}}}[$__rate_interval]))"

memory = dashboard(
    "tidepool-memory",
    "tidepool / Memory",
    "Process memory and its growth (a service's agent, or a wall-clock run), caches, and pool object churn.",
    [
        row("Process (a service's tidepool::Agent, or tidepool soak --time wall), one line per instance"),
        panel("timeseries", "Resident memory", "The process's RSS; threshold lines at the monitor's memory floors (500 / 800 / 1200 MB).",
              [target(f"max by (job, instance, workload) ({rss})", "{{instance}} ({{job}}) {{workload}}")],
              unit="decbytes", min=0, th=floors(500e6, 800e6, 1200e6), show_thresholds=True),
        panel("timeseries", "RSS growth per hour", "Slope of a least-squares fit of RSS over the growth window ($window), in bytes per hour; the threshold line is the default leak budget (1 MiB/h).",
              [target(f"max by (job, instance, workload) (deriv({rss}[$window])) * 3600", "{{instance}} ({{job}}) {{workload}}")],
              unit="decbytes", th=thresholds((None, "green"), (1048576, "red")), show_thresholds=True),
        panel("timeseries", "CPU", "CPU seconds per second (user + system) of the process.",
              [target(f"max by (job, instance, workload) (rate(process_cpu_seconds_total{{{JI}}}[$__rate_interval]))", "{{instance}} ({{job}}) {{workload}}")],
              unit="percentunit", min=0),
        panel("timeseries", "Threads", "Threads of the process (the wall-clock executors grow while blocked).",
              [target(f"max by (job, instance, workload) (process_threads{{{JI}}})", "{{instance}} ({{job}}) {{workload}}")],
              unit="short", min=0),
        row("Caches (tidepool::cache::Cache)"),
        panel("timeseries", "Cache hit ratio", "Hits over lookups per cache (summed over the selected instances): over the rate interval, and since the cache was built (tidepool_cache_hit_ratio, the highest instance).",
              [target(f"{hits} / ({hits} + {misses})", "{{job}} {{cache}} recent"),
               target(f"max by (job, cache) (tidepool_cache_hit_ratio{{{CACHE}}})", "{{job}} {{cache}} since build")],
              unit="percentunit", min=0, max=1),
        panel("timeseries", "Cache lookups, inserts and evictions", "Per second: hits, misses, inserts, and evictions by cause (size, expired, explicit, replaced).",
              [target(hits, "{{job}} {{cache}} hits"),
               target(misses, "{{job}} {{cache}} misses"),
               target(f"sum by (job, cache) (rate(tidepool_cache_inserts_total{{{CACHE}}}[$__rate_interval]))", "{{job}} {{cache}} inserts"),
               target(f"sum by (job, cache, cause) (rate(tidepool_cache_evictions_total{{{CACHE}}}[$__rate_interval]))", "{{job}} {{cache}} evicted: {{cause}}")],
              unit="ops", min=0),
        panel("timeseries", "Cache entries", "Entries per cache against the configured entry capacity (entry-bounded caches only export the capacity).",
              [target(f"max by (job, cache) (tidepool_cache_entries{{{CACHE}}})", "{{job}} {{cache}} entries"),
               target(f"max by (job, cache) (tidepool_cache_entries_max{{{CACHE}}})", "{{job}} {{cache}} max entries")],
              unit="short", min=0),
        panel("timeseries", "Cache weighted size", "The weigher's total over the cached entries against the byte capacity (byte-bounded caches only).",
              [target(f"max by (job, cache) (tidepool_cache_weighted_size_bytes{{{CACHE}}})", "{{job}} {{cache}} size"),
               target(f"max by (job, cache) (tidepool_cache_weighted_size_max_bytes{{{CACHE}}})", "{{job}} {{cache}} max")],
              unit="bytes", min=0),
        row("Pool objects"),
        panel("timeseries", "Objects alive", "Objects alive per pool (idle + used): what the pools hold in memory.",
              [target(f"sum by (job, pool) (tidepool_pool_objects{{{POOL}}})", "{{job}} {{pool}}")], unit="short", min=0),
        panel("timeseries", "Objects created and destroyed", "Per second: objects created by reason (prewarm, demand, replenish) and, drawn below zero, destroyed by reason (idle_timeout, max_lifetime, recycle_failed, retired, detached, panicked, closed).",
              [target(f"sum by (job, pool, reason) (rate(tidepool_pool_created_total{{{POOL}}}[$__rate_interval]))", "{{job}} {{pool}} created: {{reason}}"),
               target(f"-sum by (job, pool, reason) (rate(tidepool_pool_destroyed_total{{{POOL}}}[$__rate_interval]))", "{{job}} {{pool}} destroyed: {{reason}}")],
              unit="ops"),
        by_instance_row(),
        instances_stat("tidepool_.+"),
        panel("timeseries", "Resident memory, job total and largest instance", "The RSS of all selected instances of each job added up, and of the largest one.",
              [target(f"sum by (job) ({rss})", "{{job}} total"),
               target(f"max by (job) ({rss})", "{{job}} largest instance")],
              unit="decbytes", w=10, min=0),
        panel("timeseries", "Cache hit ratio by instance", "Hits over lookups of each selected instance over the rate interval, all its caches.",
              [target(f"{hits_i} / ({hits_i} + {misses_i})", BY_INSTANCE)],
              unit="percentunit", w=10, min=0, max=1),
    ],
    extra_vars=[window_var],
)

# --------------------------------------------------------------------------
# Alerts: the monitor's alerts, Prometheus's, and the simulator.
# --------------------------------------------------------------------------

phase_mappings = [
    {"type": "value", "options": {"0": {"text": " ", "color": "transparent", "index": 0},
                                  "1": {"text": "running", "color": "blue", "index": 1}}}
]

alerts = dashboard(
    "tidepool-alerts",
    "tidepool / Alerts and simulator",
    "Alerts raised by tidepool's monitor and by the Prometheus rules, and the wall-clock simulator's phases and schedule lag.",
    [
        panel("stat", "Active monitor alerts", "Alerts active now in the monitors of each job's selected instances, by severity.",
              [target(f"sum by (job, severity) (tidepool_alerts_active{{{JI}}})", "{{job}} {{severity}}")],
              unit="short", w=12, h=5, th=thresholds((None, "green"), (1, "red")),
              options={"colorMode": "background", "graphMode": "none", "textMode": "value_and_name"}),
        panel("stat", "Prometheus rule alerts firing", "Alerts of dashboards/prometheus/tidepool-rules.yml firing now, by severity (0 when none).",
              [target(f'count by (job, severity) (ALERTS{{alertname=~"Tidepool.+", alertstate="firing", {JI}}}) or 0 * count by (job, severity) (tidepool_alerts_active{{{JI}}})', "{{job}} {{severity}}")],
              unit="short", w=12, h=5, th=thresholds((None, "green"), (1, "red")),
              options={"colorMode": "background", "graphMode": "none", "textMode": "value_and_name"}),
        panel("timeseries", "Active alerts by kind and severity", "The monitor's active alerts (tidepool_alerts_active) per kind (pool_wait, starvation, memory, lock_contention, allocation_rate) and severity.",
              [target(f"sum by (job, kind, severity) (tidepool_alerts_active{{{JI}}})", "{{job}} {{kind}} {{severity}}")],
              unit="short", min=0, stack=True),
        panel("timeseries", "Alerts raised per minute", "Alerts fired or escalated per minute by kind and severity (tidepool_alerts_total).",
              [target(f"sum by (job, kind, severity) (rate(tidepool_alerts_total{{{JI}}}[$__rate_interval])) * 60", "{{job}} {{kind}} {{severity}}")],
              unit="short", min=0),
        panel("bargauge", "Alerts raised in range", "Alerts fired or escalated over the time range, by kind and severity.",
              [target(f"sum by (job, kind, severity) (increase(tidepool_alerts_total{{{JI}}}[$__range]))", "{{job}} {{kind}} {{severity}}", instant=True, range=False)],
              unit="short", min=0, w=24, h=6,
              options={"displayMode": "basic", "orientation": "vertical", "showUnfilled": True,
                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}),
        panel("timeseries", "Exhaustion forecast", "Seconds until the monitor's linear trend of each budget (memory against its limit, pool size against max, the queue against its bound) reaches its limit: tidepool_forecast_exhaustion_seconds, the soonest over subjects. The gauge is +Inf when nothing is forecast; shown capped at 24 h. A predicted alert (kind *_exhaustion_predicted) fires when the pessimistic forecast is within the horizon (1 h by default; red below).",
              [target(f"clamp_max(min by (resource) (tidepool_forecast_exhaustion_seconds{{{JI}}}), 86400)", "{{resource}}")],
              unit="s", min=0, w=24, h=7, th=thresholds((None, "red"), (3600, "transparent")), show_thresholds=True),
        row("Simulator (tidepool soak --time wall)"),
        panel("state-timeline", "Simulator phase", "Which phase of the workload runs on each selected instance (tidepool_sim_phase is 1 for the running phase, 0 for the others).",
              [target(f"max by (job, instance, workload, phase) (tidepool_sim_phase{{{JI}}})", "{{instance}} {{workload}} {{phase}}")],
              w=24, h=6, mappings=phase_mappings,
              th=thresholds((None, "transparent"), (1, "blue")),
              options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8, "alignValue": "left",
                       "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"}}),
        panel("timeseries", "Late and dropped starts", "Per second and instance: operation starts later than --late-after behind their schedule, and starts the executors' queue refused.",
              [target(f"sum by (job, instance, workload, result) (rate(tidepool_sim_starts_total{{{JI}}}[$__rate_interval]))", "{{instance}} {{workload}} {{result}}")],
              unit="ops", min=0),
        panel("stat", "Late and dropped starts in range", "Late and dropped starts over the time range, all selected instances of each job.",
              [target(f"sum by (job, result) (increase(tidepool_sim_starts_total{{{JI}}}[$__range]))", "{{job}} {{result}}", instant=True, range=False)],
              unit="short", th=thresholds((None, "green"), (1, "orange")),
              options={"graphMode": "none", "textMode": "value_and_name"}),
        by_instance_row(),
        instances_stat("tidepool_alerts_.+"),
        panel("timeseries", "Active monitor alerts by instance", "Alerts active now in each selected instance's monitor, by severity.",
              [target(f"sum by (job, instance, severity) (tidepool_alerts_active{{{JI}}})", "{{instance}} ({{job}}) {{severity}}")],
              unit="short", w=20, min=0),
    ],
    annotations=[
        {
            "name": "Simulator phase changes",
            "datasource": DS,
            "enable": True,
            "hide": False,
            "iconColor": "purple",
            "expr": f"changes(tidepool_sim_phase{{{JI}}}[1m]) > 0 and tidepool_sim_phase{{{JI}}} == 1",
            "step": "10s",
            "titleFormat": "phase {{phase}}",
            "textFormat": "{{instance}}: {{workload}} entered phase {{phase}}",
            "tagKeys": "workload,phase",
            "useValueForTime": False,
        },
        {
            "name": "Prometheus alerts",
            "datasource": DS,
            "enable": True,
            "hide": False,
            "iconColor": "red",
            "expr": f'ALERTS{{alertname=~"Tidepool.+", alertstate="firing", {JI}}}',
            "step": "30s",
            "titleFormat": "{{alertname}} {{severity}}",
            "textFormat": "{{instance}}: {{kind}} {{pool}}{{lock}}",
            "tagKeys": "severity,kind",
            "useValueForTime": False,
        },
    ],
)

for name, d in [("tidepool-overview", overview), ("tidepool-locks", locks), ("tidepool-memory", memory), ("tidepool-alerts", alerts)]:
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(d, f, indent=2)
        f.write("\n")
    print("wrote", name + ".json")
