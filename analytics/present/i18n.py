"""One translation table for every user-visible string (Chinese first, English one click away).

``t(key, lang)`` looks a key up; unknown keys raise ``KeyError`` naming the key so a missing
translation is found by the tests, not by a user. Keys are dotted by owner (``brief.*`` for the
weekly briefing, ``level.*`` for the four colours, ``nav.``/``board.``/… for the app pages). Data values
that users see (category and group names, layer names, warning levels) are translated with
:func:`label`, which falls back to the value itself for names the table does not know (a real
city's own categories, area names).

Examples
--------
>>> t("nav.board")
'预警看板'
>>> t("nav.board", "en")
'Warning board'
>>> t("board.kpi.count", "en", n=3)
'3 areas'
>>> label("两抢一盗", "en")
'Robbery, snatching & theft'
>>> label("某个新类别", "en")
'某个新类别'
"""

from __future__ import annotations

__all__ = ["LANGS", "DEFAULT_LANG", "TEXT", "t", "label", "level_label", "plotly_locale"]

#: Supported languages, the first is the default.
LANGS: tuple[str, ...] = ("zh", "en")
DEFAULT_LANG = "zh"

#: key -> {lang: text}. Keys dotted by owner/page; text may hold ``str.format`` fields.
TEXT: dict[str, dict[str, str]] = {
    # -- app shell ----------------------------------------------------------------------------
    "app.title": {"zh": "平安预警", "en": "Pingan early warning"},
    "app.subtitle": {"zh": "刑事发案四色预警", "en": "Four-colour crime warning"},
    "app.lang_toggle": {"zh": "EN", "en": "中文"},
    "app.attribution": {"zh": "数据来源", "en": "Data"},
    "app.refused": {"zh": "您的账号角色或辖区范围不包含此内容。", "en": "This is outside your role or area scope."},
    "app.not_ready": {"zh": "该功能所需的分析模块尚未安装：{what}", "en": "This view needs a module that is not installed yet: {what}"},
    "app.no_data": {"zh": "暂无数据", "en": "No data"},
    "app.error": {"zh": "无法计算：{msg}", "en": "Could not compute: {msg}"},
    # -- login page (pages/_auth.py) ------------------------------------------------------------
    "login.title": {"zh": "登录", "en": "Sign in"},
    "login.user": {"zh": "用户名", "en": "User name"},
    "login.password": {"zh": "密码", "en": "Password"},
    "login.submit": {"zh": "登录", "en": "Sign in"},
    "login.failed": {"zh": "用户名或密码错误", "en": "Wrong user name or password"},
    "login.locked": {"zh": "登录失败次数过多，请 {minutes} 分钟后再试", "en": "Too many failed sign-ins; try again in {minutes} min"},
    "login.expired": {"zh": "页面已过期，请重新登录", "en": "The page expired; please sign in again"},
    "login.busy": {"zh": "登录请求过多，请稍后再试", "en": "Too many sign-ins at once; try again shortly"},
    "login.notice": {"zh": "本系统含敏感警情数据，仅限授权人员使用，所有操作均记录在案", "en": "Sensitive police data: authorised users only; every action is logged"},
    "login.logout": {"zh": "退出登录", "en": "Sign out"},
    "nav.board": {"zh": "预警看板", "en": "Warning board"},
    "nav.screen": {"zh": "大屏", "en": "Big screen"},
    "nav.hotspots": {"zh": "热点分析", "en": "Hotspots"},
    "nav.trends": {"zh": "趋势", "en": "Trends"},
    "nav.evaluation": {"zh": "模型评估", "en": "Model evaluation"},
    "nav.data": {"zh": "数据", "en": "Data"},
    # -- common controls ----------------------------------------------------------------------
    "ctl.level": {"zh": "层级", "en": "Level"},
    "ctl.period": {"zh": "周期", "en": "Period"},
    "ctl.freq": {"zh": "统计周期", "en": "Frequency"},
    "ctl.category": {"zh": "警情类别", "en": "Category"},
    "ctl.mode": {"zh": "模式", "en": "Mode"},
    "ctl.area": {"zh": "区域", "en": "Area"},
    "ctl.dates": {"zh": "日期范围", "en": "Date range"},
    "ctl.hours": {"zh": "时段（时）", "en": "Hour of day"},
    "ctl.weekdays": {"zh": "星期", "en": "Day of week"},
    "ctl.view": {"zh": "显示方式", "en": "Show as"},
    "ctl.layers": {"zh": "叠加图层", "en": "Overlays"},
    "ctl.reset": {"zh": "重置筛选", "en": "Reset filters"},
    "freq.W": {"zh": "周", "en": "Week"},
    "freq.M": {"zh": "月", "en": "Month"},
    "mode.alert": {"zh": "预警", "en": "Alert"},
    "mode.forecast": {"zh": "预测", "en": "Forecast"},
    "mode.yoy": {"zh": "同比", "en": "Year on year"},
    # -- warning levels -----------------------------------------------------------------------
    "level.green": {"zh": "绿色", "en": "green"},
    "level.yellow": {"zh": "黄色", "en": "yellow"},
    "level.orange": {"zh": "橙色", "en": "orange"},
    "level.red": {"zh": "红色", "en": "red"},
    # -- weekly briefing (analytics/brief*.py) -------------------------------------------
    "brief.title": {"zh": "{city}平安预警周报", "en": "{city} weekly safety briefing"},
    "brief.week": {"zh": "{start}至{end}", "en": "{start} to {end}"},
    "brief.kpi.total": {"zh": "刑事发案", "en": "Criminal cases"},
    "brief.kpi.yoy": {"zh": "同比", "en": "Year on year"},
    "brief.kpi.mom": {"zh": "环比", "en": "Week on week"},
    "brief.kpi.levels": {"zh": "预警区域", "en": "Areas on warning"},
    "brief.unit.cases": {"zh": "起", "en": "cases"},
    "brief.change.up": {"zh": "上升", "en": "up"},
    "brief.change.down": {"zh": "下降", "en": "down"},
    "brief.change.flat": {"zh": "持平", "en": "unchanged"},
    "brief.change.na": {"zh": "无可比数据", "en": "no comparable data"},
    "brief.s.total": {
        "zh": "本周（{week}）全市共发生刑事案件 {n} 起，{yoy}，{mom}",
        "en": "Week {week}: {n} criminal cases city-wide, {yoy}, {mom}",
    },
    "brief.s.yoy": {"zh": "同比{change}", "en": "{change} year on year"},
    "brief.s.mom": {"zh": "环比{change}", "en": "{change} on the previous week"},
    "brief.s.group": {"zh": "；{group} {n} 起，{yoy}，{mom}", "en": "; {group}: {n}, {yoy}, {mom}"},
    "brief.s.red": {"zh": "。红色预警 {n} 个{unit}", "en": ". Red warnings: {n} {unit}"},
    "brief.s.red_none": {"zh": "。本周无红色预警", "en": ". No red warnings this week"},
    "brief.s.where": {"zh": "，集中在{places}", "en": ", concentrated in {places}"},
    "brief.s.orange": {"zh": "；橙色预警 {n} 个{unit}", "en": "; orange warnings: {n} {unit}"},
    "brief.s.chance": {"zh": "（即使各处一切如常，按统计规律也约有红色 {red} 个、橙色 {orange} 个）",
                       "en": " (even if nothing had changed anywhere, about {red} red and {orange} orange would appear by chance)"},
    "brief.s.change": {
        "zh": "。与上周相比，新增红色 {new} 个，恢复绿色 {green} 个",
        "en": ". Since last week: {new} newly red, {green} back to green",
    },
    "brief.s.focus": {"zh": "。建议重点关注{places}。", "en": ". Suggested focus: {places}."},
    "brief.s.calm": {"zh": "。各区域发案均在正常范围内。", "en": ". All areas are within their normal range."},
    "brief.sep": {"zh": "、", "en": ", "},
    "brief.unit.grid": {"zh": "网格", "en": "grid cells"},
    "brief.unit.community": {"zh": "社区", "en": "communities"},
    "brief.unit.subdistrict": {"zh": "街道", "en": "subdistricts"},
    "brief.unit.district": {"zh": "区", "en": "districts"},
    "brief.unit.cell": {"zh": "单元", "en": "cells"},
    "brief.sec.summary": {"zh": "本周概要", "en": "Summary"},
    "brief.sec.map": {"zh": "四色预警图", "en": "Four-colour warning map"},
    "brief.sec.ranking": {"zh": "预警区域排名及原因", "en": "Ranking of areas with reasons"},
    "brief.sec.trends": {"zh": "红色、橙色区域发案趋势", "en": "Trends of red and orange areas"},
    "brief.sec.hotspots": {"zh": "热点区域（Gi*）", "en": "Hot spots (Gi*)"},
    "brief.sec.changes": {"zh": "与上周相比", "en": "Changes since last week"},
    "brief.col.rank": {"zh": "排名", "en": "Rank"},
    "brief.col.area": {"zh": "区域", "en": "Area"},
    "brief.col.parent": {"zh": "所属街道", "en": "Subdistrict"},
    "brief.col.level": {"zh": "等级", "en": "Level"},
    "brief.col.observed": {"zh": "发案", "en": "Observed"},
    "brief.col.expected": {"zh": "预期", "en": "Expected"},
    "brief.col.reason": {"zh": "原因", "en": "Reason"},
    "brief.col.z": {"zh": "Gi* z 值", "en": "Gi* z"},
    "brief.col.p_fdr": {"zh": "p（FDR）", "en": "p (FDR)"},
    "brief.col.class": {"zh": "类别", "en": "Class"},
    "brief.col.before": {"zh": "上周", "en": "Last week"},
    "brief.col.now": {"zh": "本周", "en": "This week"},
    "brief.new_red": {"zh": "新增红色", "en": "Newly red"},
    "brief.back_green": {"zh": "恢复绿色", "en": "Back to green"},
    "brief.more": {"zh": "另有 {n} 个未列出", "en": "and {n} more not listed"},
    "brief.none": {"zh": "无", "en": "none"},
    "brief.trend.observed": {"zh": "实际发案", "en": "Observed"},
    "brief.trend.expected": {"zh": "预期", "en": "Expected"},
    "brief.trend.band": {"zh": "95%–99% 分位", "en": "95th–99th percentile"},
    "brief.hot.hot": {"zh": "热点（{conf}%）", "en": "hot spot ({conf}%)"},
    "brief.hot.cold": {"zh": "冷点（{conf}%）", "en": "cold spot ({conf}%)"},
    "brief.hot.ns": {"zh": "不显著", "en": "not significant"},
    "brief.hot.none": {"zh": "本期无显著热点区域", "en": "No significant hot spots"},
    "brief.hot.window": {"zh": "统计窗口：{start}至{end}", "en": "Window: {start} to {end}"},
    "brief.english": {"zh": "English summary", "en": "English summary"},
    "brief.source": {"zh": "数据来源：{source}", "en": "Data: {source}"},
    "brief.legend": {"zh": "预警等级", "en": "Warning level"},
    # -- weekly briefing, leader page / appendix / Word (H9) ---------------------------------
    "brief.title_plain": {"zh": "平安预警周报", "en": "Weekly safety briefing"},
    "brief.week_no": {"zh": "{year}年第{week}周（{dates}）", "en": "Week {week} of {year} ({dates})"},
    "brief.page": {"zh": "第 {page} 页 / 共 {pages} 页", "en": "Page {page} of {pages}"},
    "brief.sec.leader": {"zh": "本周需关注的地方", "en": "Places to watch this week"},
    "brief.sec.appendix": {"zh": "统计附录", "en": "Statistics appendix"},
    "brief.plain.times": {"zh": "{area}本周 {n} 起，约为常态的 {x} 倍", "en": "{area}: {n} cases this week, about {x} times the usual"},
    "brief.plain.rare": {"zh": "{area}本周 {n} 起，而平时每周通常不到 1 起", "en": "{area}: {n} cases this week, where a usual week has fewer than one"},
    "brief.plain.above": {"zh": "{area}本周 {n} 起，高于常态（约 {e} 起）", "en": "{area}: {n} cases this week, above the usual (about {e})"},
    "brief.plain.yoy": {"zh": "，同比{change}", "en": ", {change} year on year"},
    "brief.plain.none": {"zh": "本周各区域发案均在正常范围内，无需特别关注的地方。", "en": "Every area is within its usual range this week."},
    "brief.col.usual": {"zh": "常态", "en": "Usual"},
    "brief.col.plain": {"zh": "说明", "en": "In words"},
    "brief.col.p": {"zh": "P 值", "en": "P"},
    "brief.col.p_bh": {"zh": "FDR 校正 P 值", "en": "FDR-adjusted P"},
    "brief.col.fdr_ok": {"zh": "FDR 确认", "en": "FDR confirmed"},
    "brief.col.q95": {"zh": "95% 分位", "en": "95th pct."},
    "brief.col.q99": {"zh": "99% 分位", "en": "99th pct."},
    "brief.yes": {"zh": "是", "en": "yes"},
    "brief.no": {"zh": "否", "en": "no"},
    "brief.trend.normal": {"zh": "常态范围（5%–95% 分位）", "en": "Usual range (5th–95th percentile)"},
    "brief.trend.high": {"zh": "偏高（95%–99% 分位）", "en": "High (95th–99th percentile)"},
    "brief.app.method": {
        "zh": "预警等级由模型（{model}）给出的本周预期分布判定：发案数高于 {orange} 分位为橙色、高于 {red} 分位为红色（另有最少发案数要求）。P 值为在常态下本周发案不少于实际数的概率；FDR 校正（控制错误发现率）对本层全部 {n} 个区域一并进行。",
        "en": "Levels come from the model's ({model}) predictive distribution for the week: above its {orange} quantile is orange, above {red} red (with minimum counts). P is the probability of at least the observed count in a usual week; the FDR adjustment is Benjamini–Hochberg over all {n} areas of the layer.",
    },
    "brief.app.chance": {
        "zh": "即使各处一切如常，按统计规律本周也约有红色 {red} 个、橙色 {orange} 个区域；本周实际红色 {n_red} 个、橙色 {n_orange} 个。",
        "en": "Even if every area were as usual, about {red} red and {orange} orange areas would appear by chance; this week there are {n_red} red and {n_orange} orange.",
    },
    "brief.app.levels": {"zh": "红色、橙色区域的统计量", "en": "Statistics of red and orange areas"},
    "brief.app.hot": {
        "zh": "热点（Gi*）：类别按 FDR 校正后的 P 值划分（热点 99% 即 FDR 校正 P ≤ 0.01），与表中数值一致。",
        "en": "Hot spots (Gi*): classes use the FDR-adjusted P (hot spot 99% means adjusted P ≤ 0.01), as in the table.",
    },
    "brief.sheet.ranking": {"zh": "排名", "en": "Ranking"},
    "brief.model.last": {"zh": "上周值", "en": "last week's count"},
    "brief.model.mean4": {"zh": "近 4 周均值", "en": "mean of 4 weeks"},
    "brief.model.mean15": {"zh": "近 15 周均值", "en": "mean of 15 weeks"},
    "brief.model.lastyear": {"zh": "去年同期", "en": "same week last year"},
    "brief.model.longrun": {"zh": "长期均值", "en": "long-run mean"},
    "brief.model.ewma": {"zh": "指数加权平均", "en": "exponentially weighted mean"},
    "brief.model.kde_longrun": {"zh": "核平滑长期均值", "en": "kernel-smoothed long-run mean"},
    "brief.model.recency_kde": {"zh": "近期加权核密度", "en": "recency-weighted KDE"},
    "brief.model.glm": {"zh": "泊松回归（广义线性模型）", "en": "Poisson regression (GLM)"},
    "brief.model.eb": {"zh": "经验贝叶斯（伽马-泊松）", "en": "empirical Bayes (gamma-Poisson)"},
    "brief.model.gbm": {"zh": "梯度提升树", "en": "gradient boosting"},
    "brief.model.farrington": {"zh": "法林顿法", "en": "Farrington"},
    "brief.model.ears_c2": {"zh": "早期异常报告法（C2）", "en": "EARS C2"},
    "brief.model.cusum": {"zh": "累积和控制图", "en": "Poisson CUSUM"},
    "brief.app.hot_table": {"zh": "热点区域的统计量（Gi*）", "en": "Hot spot statistics (Gi*)"},
    "brief.app.none": {"zh": "本周无红色、橙色区域", "en": "No red or orange areas this week"},
    "names.cell_in": {"zh": "{parent}第{k}格", "en": "{parent} cell {k}"},
    "names.grid_ref": {"zh": "{ref}格", "en": "cell {ref}"},
    # -- layers -------------------------------------------------------------------------------
    "layer.district": {"zh": "区", "en": "District"},
    "layer.subdistrict": {"zh": "街道", "en": "Subdistrict"},
    "layer.community": {"zh": "社区", "en": "Community"},
    "layer.grid": {"zh": "网格", "en": "Grid"},
    "layer.cell": {"zh": "规则格网", "en": "Regular cell"},
    # -- board --------------------------------------------------------------------------------
    "board.title": {"zh": "预警看板", "en": "Warning board"},
    "board.whole_city": {"zh": "全市", "en": "Whole city"},
    "board.legend": {"zh": "图例", "en": "Legend"},
    "board.kpi.cases": {"zh": "刑事发案", "en": "Criminal cases"},
    "board.kpi.yoy": {"zh": "同比", "en": "Year on year"},
    "board.kpi.mom": {"zh": "环比", "en": "Period on period"},
    "board.kpi.theft": {"zh": "两抢一盗", "en": "Robbery, snatching & theft"},
    "board.kpi.red": {"zh": "红色区域", "en": "Red areas"},
    "board.kpi.orange": {"zh": "橙色区域", "en": "Orange areas"},
    "board.kpi.count": {"zh": "{n} 个", "en": "{n} areas"},
    "screen.week": {"zh": "{year}年第{n}周（{start}至{end}）", "en": "Week {n} of {year} ({start} to {end})"},
    "screen.trend": {"zh": "近12周发案（与去年同期）", "en": "Cases, last 12 weeks (and a year earlier)"},
    "screen.this_year": {"zh": "本年", "en": "This year"},
    "screen.last_year": {"zh": "去年同期", "en": "A year earlier"},
    "screen.ranking": {"zh": "一月一排位 · {month}", "en": "Monthly ranking · {month}"},
    "export.xlsx": {"zh": "导出 Excel", "en": "Export Excel"},
    "export.csv": {"zh": "导出 CSV", "en": "Export CSV"},
    "export.hotspots": {"zh": "导出热点统计（Gi*）", "en": "Export hot spots (Gi*)"},
    "export.knox": {"zh": "导出近重复表", "en": "Export near-repeat table"},
    "export.incidents": {"zh": "导出筛选后的警情", "en": "Export the filtered incidents"},
    "board.below": {"zh": "内含红{red}·橙{orange}", "en": "{red} red · {orange} orange inside"},
    "board.alerts": {"zh": "红橙预警清单", "en": "Red and orange warnings"},
    "board.alerts_none": {"zh": "本期没有红色或橙色预警。", "en": "No red or orange warning this period."},
    "board.alerts_more": {"zh": "另有 {n} 个未列出（见排位表）", "en": "{n} more (see the ranking)"},
    "col.source_file": {"zh": "来源文件", "en": "Source file"},
    "col.source_row": {"zh": "原文件行号", "en": "Row in file"},
    "col.reason_detail": {"zh": "原因说明", "en": "Details"},
    "col.resolved": {"zh": "已更正", "en": "Fixed"},
    "data.resolved_yes": {"zh": "已更正", "en": "fixed"},
    "data.resolved": {"zh": "另有 {n} 行已由后续导入的文件更正（列在明细最后，不计入下方原因统计）。",
                      "en": "{n} more rows were brought in by a later file (listed last, not counted by reason below)."},
    "ctl.date_from": {"zh": "开始日期", "en": "Start date"},
    "ctl.date_to": {"zh": "结束日期", "en": "End date"},
    "col.below": {"zh": "下辖预警", "en": "Warnings inside"},
    "board.kpi.chance": {"zh": "偶然约 {n} 个", "en": "≈{n} by chance"},
    "board.ranking": {"zh": "一月一排位", "en": "Monthly ranking"},
    "board.ranking_week": {"zh": "本周排位", "en": "Weekly ranking"},
    "board.drill_hint": {"zh": "点击区域查看下级", "en": "Click an area to see the areas within it"},
    "board.brief": {"zh": "一键生成周报", "en": "Weekly briefing"},
    "board.brief_done": {"zh": "周报已生成", "en": "Briefing ready"},
    "board.screen": {"zh": "大屏模式", "en": "Big-screen mode"},
    "col.rank": {"zh": "排位", "en": "Rank"},
    "col.name": {"zh": "名称", "en": "Name"},
    "col.area_id": {"zh": "编号", "en": "ID"},
    "col.observed": {"zh": "发案数", "en": "Observed"},
    "col.expected": {"zh": "预期", "en": "Expected"},
    "col.q95": {"zh": "95%上限", "en": "95% bound"},
    "col.p_exceed": {"zh": "超出概率", "en": "P(exceed)"},
    "col.yoy": {"zh": "同比", "en": "YoY"},
    "col.mom": {"zh": "环比", "en": "MoM"},
    "col.level": {"zh": "等级", "en": "Level"},
    "col.reason": {"zh": "原因", "en": "Reason"},
    "col.period": {"zh": "周期", "en": "Period"},
    "col.count": {"zh": "数量", "en": "Count"},
    "col.category": {"zh": "类别", "en": "Category"},
    "col.reason_code": {"zh": "原因代码", "en": "Reason code"},
    "col.rows": {"zh": "行数", "en": "Rows"},
    # -- big screen ---------------------------------------------------------------------------
    "screen.title": {"zh": "平安建设四色预警大屏", "en": "Safety warning wall"},
    "screen.rotating": {"zh": "自动轮播：{layer}", "en": "Rotating: {layer}"},
    # -- hotspots -----------------------------------------------------------------------------
    "hot.title": {"zh": "热点分析", "en": "Hotspot analysis"},
    "hot.points": {"zh": "案件点位", "en": "Incident points"},
    "hot.density": {"zh": "密度", "en": "Density"},
    "hot.hex": {"zh": "六边形计数", "en": "Hexagon counts"},
    "hot.gistar": {"zh": "Gi* 热点", "en": "Gi* hot spots"},
    "hot.emerging": {"zh": "新兴热点", "en": "Emerging hot spots"},
    "hot.cameras": {"zh": "监控点位", "en": "Cameras"},
    "hot.knox": {"zh": "近重复（Knox）", "en": "Near repeat (Knox)"},
    "hot.by_hour": {"zh": "按时段", "en": "By hour"},
    "hot.by_weekday": {"zh": "按星期", "en": "By weekday"},
    "hot.by_category": {"zh": "按类别", "en": "By category"},
    "hot.selected": {"zh": "已选 {n} 起案件", "en": "{n} incidents selected"},
    "hs.hot_99": {"zh": "热点（99%置信）", "en": "Hot spot (99%)"},
    "hs.hot_95": {"zh": "热点（95%置信）", "en": "Hot spot (95%)"},
    "hs.hot_90": {"zh": "热点（90%置信）", "en": "Hot spot (90%)"},
    "hs.cold_99": {"zh": "冷点（99%置信）", "en": "Cold spot (99%)"},
    "hs.cold_95": {"zh": "冷点（95%置信）", "en": "Cold spot (95%)"},
    "hs.cold_90": {"zh": "冷点（90%置信）", "en": "Cold spot (90%)"},
    "hs.not_significant": {"zh": "不显著", "en": "Not significant"},
    "hs.new_hot_spot": {"zh": "新增热点", "en": "New hot spot"},
    "hs.consecutive_hot_spot": {"zh": "连续热点", "en": "Consecutive hot spot"},
    "hs.intensifying_hot_spot": {"zh": "加剧热点", "en": "Intensifying hot spot"},
    "hs.persistent_hot_spot": {"zh": "持续热点", "en": "Persistent hot spot"},
    "hs.diminishing_hot_spot": {"zh": "减弱热点", "en": "Diminishing hot spot"},
    "hs.sporadic_hot_spot": {"zh": "零星热点", "en": "Sporadic hot spot"},
    "hs.oscillating_hot_spot": {"zh": "振荡热点", "en": "Oscillating hot spot"},
    "hs.historical_hot_spot": {"zh": "历史热点", "en": "Historical hot spot"},
    "hs.new_cold_spot": {"zh": "新增冷点", "en": "New cold spot"},
    "hs.consecutive_cold_spot": {"zh": "连续冷点", "en": "Consecutive cold spot"},
    "hs.intensifying_cold_spot": {"zh": "加剧冷点", "en": "Intensifying cold spot"},
    "hs.persistent_cold_spot": {"zh": "持续冷点", "en": "Persistent cold spot"},
    "hs.diminishing_cold_spot": {"zh": "减弱冷点", "en": "Diminishing cold spot"},
    "hs.sporadic_cold_spot": {"zh": "零星冷点", "en": "Sporadic cold spot"},
    "hs.oscillating_cold_spot": {"zh": "振荡冷点", "en": "Oscillating cold spot"},
    "hs.historical_cold_spot": {"zh": "历史冷点", "en": "Historical cold spot"},
    "hs.no_pattern": {"zh": "无明显模式", "en": "No pattern"},
    "hot.none": {"zh": "（无）", "en": "(none)"},
    # 密度 view: the service's quartic kernel density (H11)
    "hot.density_unit": {"zh": "起/平方公里", "en": "cases per km²"},
    "hot.density_note": {"zh": "密度：四次核密度估计，带宽 {h} 米，格距约 {cell} 米",
                         "en": "density: quartic kernel, bandwidth {h} m, cells about {cell} m"},
    "knox.distance_band": {"zh": "距离带（米）", "en": "Distance band (m)"},
    "knox.time_band": {"zh": "时间带（天）", "en": "Time band (days)"},
    "knox.observed": {"zh": "观测案件对", "en": "Observed pairs"},
    "knox.expected": {"zh": "期望案件对", "en": "Expected pairs"},
    "knox.ratio": {"zh": "比值", "en": "Ratio"},
    "knox.p": {"zh": "p 值", "en": "p-value"},
    "knox.significant": {"zh": "显著", "en": "Significant"},
    "knox.n_events": {"zh": "案件数", "en": "Incidents"},
    "knox.n_pairs_within": {"zh": "范围内案件对", "en": "Pairs within range"},
    "knox.same": {"zh": "同一地点", "en": "same location"},
    "knox.yes": {"zh": "是", "en": "yes"},
    "knox.no": {"zh": "否", "en": "no"},
    # -- trends -------------------------------------------------------------------------------
    "trend.title": {"zh": "趋势", "en": "Trends"},
    "trend.series": {"zh": "发案趋势与预期区间", "en": "Cases and expected band"},
    "trend.observed": {"zh": "实际发案", "en": "Observed"},
    "trend.expected": {"zh": "预期", "en": "Expected"},
    "trend.week_axis": {"zh": "周次（ISO）", "en": "ISO week"},
    "trend.band80": {"zh": "常态范围（5%–80%）", "en": "Usual range (5%–80%)"},
    "trend.band95": {"zh": "常态范围（5%–95%）", "en": "Usual range (5%–95%)"},
    "trend.warnings": {"zh": "预警", "en": "Warnings"},
    "trend.this_year": {"zh": "今年", "en": "This year"},
    "trend.last_year": {"zh": "去年", "en": "Last year"},
    "trend.yoy_chart": {"zh": "今年与去年同期", "en": "This year vs last year"},
    "trend.heatmap": {"zh": "时段 × 星期", "en": "Hour × weekday"},
    "trend.compstat": {"zh": "CompStat 对比", "en": "CompStat comparison"},
    "trend.last28": {"zh": "近28天", "en": "Last 28 days"},
    "trend.prev28": {"zh": "前28天", "en": "Previous 28 days"},
    "trend.ly28": {"zh": "去年同期28天", "en": "Same 28 days last year"},
    "trend.ytd": {"zh": "年初至今", "en": "Year to date"},
    "trend.ly_ytd": {"zh": "去年同期", "en": "Last year to date"},
    "trend.current": {"zh": "本期", "en": "Current"},
    "trend.compare": {"zh": "对比期", "en": "Comparison"},
    "trend.change": {"zh": "变化", "en": "Change"},
    "trend.window": {"zh": "时间段", "en": "Window"},
    # -- evaluation ---------------------------------------------------------------------------
    "eval.title": {"zh": "模型评估", "en": "Model evaluation"},
    "eval.table": {"zh": "回测结果", "en": "Backtest results"},
    "eval.pai": {"zh": "PAI（预测精度指数）", "en": "PAI (predictive accuracy index)"},
    "eval.hit": {"zh": "命中率", "en": "Hit rate"},
    "eval.calibration": {"zh": "90% 区间覆盖率", "en": "90% interval coverage"},
    "eval.model": {"zh": "模型", "en": "Model"},
    "eval.area_share": {"zh": "区域占比", "en": "Share of area"},
    "eval.crps": {"zh": "CRPS", "en": "CRPS"},
    "eval.seconds": {"zh": "耗时（秒）", "en": "Seconds"},
    "eval.running": {"zh": "首次打开时在网格上运行回测，结果缓存于工作区。", "en": "The backtest runs once on the grid and is cached in the workspace."},
    # -- data ---------------------------------------------------------------------------------
    "data.title": {"zh": "数据", "en": "Data"},
    "data.summary": {"zh": "工作区概况", "en": "Workspace summary"},
    "data.incidents": {"zh": "案件数", "en": "Incidents"},
    "data.quarantined": {"zh": "隔离行数", "en": "Quarantined rows"},
    "data.date_range": {"zh": "时间范围", "en": "Date range"},
    "data.layers": {"zh": "区域图层", "en": "Area layers"},
    "data.quarantine": {"zh": "隔离数据（不可用行及原因）", "en": "Quarantine (unusable rows and why)"},
    "data.upload": {"zh": "上传下一周数据文件（CSV / Excel）", "en": "Upload next week's file (CSV / Excel)"},
    "data.upload_hint": {"zh": "拖放文件或点击选择", "en": "Drag and drop or click to select"},
    "data.as_of_hint": {"zh": "数据截至（可选，如 2025-12-28 23:59；默认取文件中最晚的案件时间）",
                        "en": "Data as of (optional, e.g. 2025-12-28 23:59; default: the file's latest incident)"},
    "data.upload_failed": {"zh": "文件未导入：", "en": "File not ingested: "},
    "data.accepted": {"zh": "已接收 {used} 行，隔离 {quarantined} 行（共 {rows} 行）", "en": "Accepted {used} rows, quarantined {quarantined} (of {rows})"},
    # -- reason codes of the quarantine -------------------------------------------------------
    "board.reason_forecast": {"zh": "下期预测 {n} 起（{share}）", "en": "{n} expected next period ({share})"},
    "board.reason_forecast_top": {"zh": "前 {share}", "en": "top {share}"},
    "board.reason_forecast_rest": {"zh": "其余", "en": "the rest"},
    "board.partial_reason": {"zh": "截至 {as_of}（不完整，已过预期的 {share}）：",
                             "en": "to {as_of} (incomplete, {share} of the expected cases due): "},
    "board.partial_option": {"zh": "截至 {as_of}（不完整）", "en": "to {as_of} (incomplete)"},
    "board.no_data": {"zh": "数据缺失", "en": "no data"},
    "board.gap_warning": {"zh": "数据缺失：{periods}（全市合计异常偏低，已按缺失处理，不参与建模）",
                          "en": "No data: {periods} (city total implausibly low; treated as missing, left out of fitting)"},
    "board.complete_note": {"zh": "最近完整周期 {period}（数据截至 {as_of}，报告滞后 {lag} 天）",
                            "en": "latest complete period {period} (data as of {as_of}, reporting lag {lag} d)"},
    "board.period_note": {"zh": "周期 {period}（数据截至 {as_of}，报告滞后 {lag} 天）",
                          "en": "period {period} (data as of {as_of}, reporting lag {lag} d)"},
    "reason.missing_coordinates": {"zh": "缺少坐标", "en": "Missing coordinates"},
    "reason.outside_study_area": {"zh": "不在辖区内", "en": "Outside the study area"},
    "reason.unparseable_time": {"zh": "时间无法识别", "en": "Unparseable time"},
    "reason.future_time": {"zh": "时间在未来", "en": "Time in the future"},
    "reason.duplicate_id": {"zh": "编号重复", "en": "Duplicate id"},
    "reason.empty_category": {"zh": "类别为空", "en": "Empty category"},
    "reason.zero_coordinates": {"zh": "坐标为零", "en": "Zero coordinates"},
    "reason.swapped_lat_lon": {"zh": "经纬度颠倒", "en": "Latitude and longitude swapped"},
    # -- 整治评估 page and `pingan intervention` (pages/intervention.py, present/intervention_text.py)
    "nav.intervention": {"zh": "整治评估", "en": "Intervention"},
    "iv.layer": {"zh": "层级", "en": "Level"},
    "iv.target": {"zh": "整治区域", "en": "Target area(s)"},
    "iv.start": {"zh": "整治开始日期", "en": "Start date"},
    "iv.end": {"zh": "评估截止（可选）", "en": "End (optional)"},
    "iv.buffer": {"zh": "缓冲区（米）", "en": "Buffer (m)"},
    "iv.hint": {"zh": "选择整治区域（可多选）和整治开始日期；对照区为同层级中缓冲区以外的其他区域。",
                "en": "Choose the target area(s) and the start date; the control is the other areas of the level beyond the buffer."},
    "iv.target_pick": {"zh": "选择一个或多个区域", "en": "Choose one or more areas"},
    "iv.dd.select_all": {"zh": "全选", "en": "Select all"},
    "iv.dd.deselect_all": {"zh": "全不选", "en": "Deselect all"},
    "iv.dd.selected_count": {"zh": "已选 {num_selected} 个", "en": "{num_selected} selected"},
    "iv.dd.search": {"zh": "搜索", "en": "Search"},
    "iv.dd.clear_search": {"zh": "清除搜索", "en": "Clear search"},
    "iv.dd.clear_selection": {"zh": "清除选择", "en": "Clear selection"},
    "iv.dd.no_options_found": {"zh": "无匹配区域", "en": "No matching area"},
    "iv.end_latest": {"zh": "至最新完整周", "en": "to the latest full week"},
    "iv.preset": {"zh": "已载入登记的整治：{name}。", "en": " Loaded the recorded intervention: {name}."},
    "iv.series": {"zh": "整治前后每周发案（4 周滑动平均；各区整治前周均 = 100，虚线为前后均值）",
                  "en": "Weekly incidents before and after (4-week moving average; each zone's mean before = 100, dashed: means)"},
    "iv.result": {"zh": "评估结论", "en": "Result"},
    "iv.numbers": {"zh": "数据", "en": "Numbers"},
    "iv.treated": {"zh": "整治区", "en": "Target"},
    "iv.control": {"zh": "对照区", "en": "Control"},
    "iv.buffer_zone": {"zh": "缓冲区", "en": "Buffer"},
    "iv.start_line": {"zh": "整治开始", "en": "Start"},
    "iv.zone": {"zh": "区域", "en": "Zone"},
    "iv.before": {"zh": "整治前", "en": "Before"},
    "iv.after": {"zh": "整治后", "en": "After"},
    "iv.change": {"zh": "变化", "en": "Change"},
    "iv.index": {"zh": "指数", "en": "Index"},
    "iv.cases": {"zh": "起", "en": "cases"},
    "iv.effect_down": {"zh": "整治后发案较对照区下降 {pct}（95% 区间 {ci}），置换检验 P{p}",
                       "en": "After the start, incidents fell {pct} relative to the control (95% interval {ci}); placebo test P{p}"},
    "iv.effect_up": {"zh": "整治后发案较对照区上升 {pct}（95% 区间 {ci}），置换检验 P{p}",
                     "en": "After the start, incidents rose {pct} relative to the control (95% interval {ci}); placebo test P{p}"},
    "iv.ci_cross": {"zh": "下降 {down} 至上升 {up}", "en": "from −{down} to +{up}"},
    "iv.not_significant": {"zh": "；与对照区的差别可能出于偶然", "en": "; the difference may be chance"},
    "iv.few_targets": {"zh": "。只有 {n} 个整治区域，区间按模型误差计算，结论以置换检验为准",
                       "en": ". With only {n} target area(s) the interval uses model-based errors; rely on the placebo test"},
    "iv.wdq.no_effect": {"zh": "整治区相对对照区没有下降，无法计算转移（WDQ）。",
                         "en": "The target did not improve relative to the control, so displacement (WDQ) is not defined."},
    "iv.wdq.diffusion_gt_effect": {"zh": "WDQ = {wdq}：周边 {buffer} 米缓冲区的下降超过整治区本身，效益扩散大于直接效果。",
                                   "en": "WDQ = {wdq}: the {buffer} m buffer improved more than the target itself — diffusion of benefits larger than the direct effect."},
    "iv.wdq.diffusion": {"zh": "WDQ = {wdq}：周边 {buffer} 米缓冲区同步下降，效益扩散，未见犯罪转移。",
                         "en": "WDQ = {wdq}: the {buffer} m buffer improved too — diffusion of benefits, no displacement."},
    "iv.wdq.no_displacement": {"zh": "WDQ = 0：周边 {buffer} 米缓冲区没有变化，未见犯罪转移。",
                               "en": "WDQ = 0: no change in the {buffer} m buffer — no displacement."},
    "iv.wdq.displacement": {"zh": "WDQ = {wdq}：部分案件转移到周边 {buffer} 米缓冲区，但转移小于整治效果。",
                            "en": "WDQ = {wdq}: some crime moved into the {buffer} m buffer, less than the effect in the target."},
    "iv.wdq.displacement_gt_effect": {"zh": "WDQ = {wdq}：转移到周边 {buffer} 米缓冲区的案件多于整治区减少的案件，净效果为负。",
                                      "en": "WDQ = {wdq}: more crime moved into the {buffer} m buffer than the target lost — a net loss."},
    "iv.quantity": {"zh": "指标", "en": "Quantity"},
    "iv.value": {"zh": "数值", "en": "Value"},
    "iv.rate_ratio": {"zh": "率比（整治区/对照区，前后对比）", "en": "Rate ratio (target vs control, after vs before)"},
    "iv.ci": {"zh": "95% 区间", "en": "95% interval"},
    "iv.cov.cluster": {"zh": "按区域聚类的标准误", "en": "errors clustered by area"},
    "iv.cov.model": {"zh": "准泊松模型标准误", "en": "quasi-Poisson model errors"},
    "iv.cov": {"zh": "区间依据", "en": "Interval from"},
    "iv.p_cluster": {"zh": "P（Wald）", "en": "P (Wald)"},
    "iv.p_perm": {"zh": "置换检验 P（{n} 组安慰剂）", "en": "Placebo test P ({n} placebo sets)"},
    "iv.wdq": {"zh": "加权转移商数 WDQ", "en": "Weighted displacement quotient"},
    "iv.weeks": {"zh": "周数（整治前 / 后）", "en": "Weeks (before / after)"},
    "iv.areas": {"zh": "区域数（整治 / 对照）", "en": "Areas (target / control)"},
    "iv.window": {"zh": "评估期", "en": "Window"},
    "iv.control_rule": {"zh": "对照区：{layer}中距整治区 {buffer} 米以外、期间有发案的其他区域（{n} 个）",
                        "en": "Control: the other {layer} areas beyond {buffer} m of the target with incidents in the window ({n})"},
    # -- weekdays -----------------------------------------------------------------------------
    "wd.0": {"zh": "周一", "en": "Mon"},
    "wd.1": {"zh": "周二", "en": "Tue"},
    "wd.2": {"zh": "周三", "en": "Wed"},
    "wd.3": {"zh": "周四", "en": "Thu"},
    "wd.4": {"zh": "周五", "en": "Fri"},
    "wd.5": {"zh": "周六", "en": "Sat"},
    "wd.6": {"zh": "周日", "en": "Sun"},
}

#: Data values users see: categories, groups (value -> English). Chinese is the value itself.
_VALUES_EN: dict[str, str] = {
    "全部": "All cases",
    "两抢一盗": "Robbery, snatching & theft",
    "盗窃": "Theft",
    "十类重点警情": "Ten key categories",
    "入室盗窃": "Burglary",
    "盗窃电动车": "E-bike theft",
    "扒窃": "Pickpocketing",
    "抢劫": "Robbery",
    "抢夺": "Snatching",
    "电信网络诈骗": "Telecom & online fraud",
    "故意伤害": "Assault",
    "寻衅滋事": "Affray",
    "毒品": "Drugs",
    "其他": "Other",
    "示范市": "Demo City",
}


def t(key: str, lang: str = DEFAULT_LANG, **fields: object) -> str:
    """Translate ``key`` into ``lang`` (``"zh"`` or ``"en"``) and fill ``str.format`` fields.

    Raises
    ------
    KeyError
        If ``key`` has no text in ``lang`` (a missing translation is a bug, caught by tests).
    ValueError
        If ``lang`` is not one of :data:`LANGS`.

    Examples
    --------
    >>> t("level.red", "zh")
    '红色'
    """
    if lang not in LANGS:
        raise ValueError(f"lang {lang!r}: expected one of {', '.join(LANGS)}")
    try:
        text = TEXT[key][lang]
    except KeyError:
        raise KeyError(f"i18n: no {lang!r} text for key {key!r}") from None
    return text.format(**fields) if fields else text


def label(value: object, lang: str = DEFAULT_LANG) -> str:
    """A data value (category, group, layer, level, reason code) for display in ``lang``.

    Known values are translated; unknown ones (a city's own names) are returned unchanged.
    """
    s = "" if value is None else str(value)
    for prefix in ("layer.", "level.", "reason.", "mode.", "freq.", "hs."):
        if prefix + s in TEXT:
            return t(prefix + s, lang)
    if lang == "en":
        return _VALUES_EN.get(s, s)
    return s


def level_label(level: object, lang: str = DEFAULT_LANG) -> str:
    """Warning level name (green/yellow/orange/red) in ``lang``."""
    return t(f"level.{level}", lang)


def plotly_locale(lang: str) -> str:
    """The plotly.js locale name for ``lang`` (``zh-CN`` is vendored under ``assets/``)."""
    return "en" if lang == "en" else "zh-CN"
