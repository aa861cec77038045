// The slide page: OpenSeadragon on the slide's Deep Zoom pyramid, overlay layers that toggle and fade,
// and the low-resolution map beside it where a click zooms the slide to that place.
(function () {
  const config = JSON.parse(document.getElementById('slide-config').textContent);
  const viewer = OpenSeadragon({
    id: 'osd',
    prefixUrl: '/static/vendor/openseadragon/images/',
    tileSources: config.dzi,
    drawer: 'canvas',
    showNavigator: true,
    navigatorPosition: 'BOTTOM_RIGHT',
    maxZoomPixelRatio: 2,
    animationTime: 0.4,
  });
  const layers = {};
  window.radpathViewer = viewer;
  window.radpathLayers = layers;

  function opacity(name) {
    const on = document.getElementById('toggle-' + name).checked;
    return on ? Number(document.getElementById('fade-' + name).value) : 0;
  }
  function apply(name) {
    if (layers[name]) layers[name].setOpacity(opacity(name));
  }

  let opened = false;
  viewer.addHandler('open', function () {
    if (opened) return;
    opened = true;
    config.layers.forEach(function (layer) {
      const source = layer.kind === 'image' ? {type: 'image', url: layer.url} : layer.url;
      viewer.addTiledImage({
        tileSource: source, x: 0, y: 0, width: layer.width, opacity: 0,
        success: function (event) { layers[layer.name] = event.item; apply(layer.name); },
      });
    });
  });
  document.querySelectorAll('input.toggle, input.fade').forEach(function (input) {
    input.addEventListener('input', function () { apply(input.dataset.layer); });
    input.addEventListener('change', function () { apply(input.dataset.layer); });
  });

  const map = document.getElementById('minimap');
  const box = document.getElementById('minimap-box');
  map.addEventListener('click', function (event) {
    const rect = map.getBoundingClientRect();
    const fx = (event.clientX - rect.left) / rect.width;
    const fy = (event.clientY - rect.top) / rect.height;
    const point = new OpenSeadragon.Point(fx * config.minimap.width, fy * config.minimap.height);
    const zoom = Math.max(viewer.viewport.getZoom(), viewer.viewport.getHomeZoom() * 4);
    viewer.viewport.zoomTo(zoom, point, true);
    viewer.viewport.panTo(point, true);
  });
  function showBox() {
    if (!viewer.world.getItemCount()) return;
    const bounds = viewer.viewport.getBounds(true);
    const w = config.minimap.width, h = config.minimap.height;
    box.style.left = (100 * bounds.x / w) + '%';
    box.style.top = (100 * bounds.y / h) + '%';
    box.style.width = (100 * bounds.width / w) + '%';
    box.style.height = (100 * bounds.height / h) + '%';
  }
  viewer.addHandler('viewport-change', showBox);
  viewer.addHandler('open', showBox);
})();
