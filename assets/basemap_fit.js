/* Fit the tile maps (base map on, pages/_maps.py on_tiles) to their areas in the map's real size.
 *
 * plotly.js fits a `map` subplot only for point traces, never for choroplethmap; the server sets
 * a centre and zoom for an assumed size and puts the areas' bounds in layout.meta.pingan_fit.
 * This fits them once per new figure or new size, so the 大屏 at 1366×768 shows the whole city
 * as at 1920×1080. After that the user's own pan and zoom stay. Nothing is fetched.
 */
(function () {
    "use strict";
    function fit(gd) {
        var meta = gd.layout && gd.layout.meta;
        var bounds = meta && meta.pingan_fit;
        var full = gd._fullLayout;
        var sub = full && full.map && full.map._subplot;
        if (!bounds || !sub || !sub.map || !gd.clientWidth || !gd.clientHeight || !gd.isConnected) {
            return;
        }
        if (!sub.map.isStyleLoaded() || sub.map.isMoving()) {  // plotly is still building it: next time
            return;
        }
        // a new figure (Dash replaces gd.layout) or a new size: fit once, through Plotly.relayout
        // so that plotly's own later redraws keep the view
        var size = gd.clientWidth + "x" + gd.clientHeight;
        if (gd._pinganLayout === gd.layout && gd._pinganSize === size) {
            return;
        }
        var camera = sub.map.cameraForBounds([[bounds[0], bounds[1]], [bounds[2], bounds[3]]], {padding: 12});
        if (!camera || !window.Plotly) {
            return;
        }
        gd._pinganLayout = gd.layout;
        gd._pinganSize = size;
        window.Plotly.relayout(gd, {"map.center": {lon: camera.center.lng, lat: camera.center.lat},
                                    "map.zoom": camera.zoom});
    }
    window.setInterval(function () {
        var plots = document.querySelectorAll(".js-plotly-plot");
        for (var i = 0; i < plots.length; i++) {
            fit(plots[i]);
        }
    }, 400);
})();
