// Sortable tables: click a column header to sort by it (numbers numerically, empty cells last); click again to reverse.
(function () {
  function key(cell) {
    const raw = cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent.trim();
    const number = raw === '' ? NaN : Number(raw);
    return {empty: raw === '', number: number, text: raw.toLowerCase()};
  }
  function compare(a, b) {
    if (a.empty || b.empty) return a.empty === b.empty ? 0 : (a.empty ? 1 : -1);
    if (!isNaN(a.number) && !isNaN(b.number)) return a.number - b.number;
    return a.text < b.text ? -1 : (a.text > b.text ? 1 : 0);
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('thead th').forEach(function (th, column) {
      th.addEventListener('click', function () {
        const body = table.tBodies[0];
        const descending = th.getAttribute('aria-sort') === 'ascending';
        table.querySelectorAll('thead th').forEach(function (other) { other.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
        const rows = Array.from(body.rows);
        rows.sort(function (r1, r2) {
          const k1 = key(r1.cells[column]), k2 = key(r2.cells[column]);
          if (k1.empty || k2.empty) return compare(k1, k2);   // empty cells stay last either way
          const order = compare(k1, k2);
          return descending ? -order : order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
