// A stand-in for anywidget's model, for field_viewer.js without a kernel (field_player_html): the
// fields of every saved image are in the page, so choosing another image needs no Python either.
function play(render, root, data) {
  const bytes = (b64) => Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0)).buffer;
  const fields = data.fields.map(bytes);
  const store = { meta: data.meta, photos: bytes(data.photos), shared: bytes(data.shared), fields: fields[data.selection.image],
                  fields_image: data.selection.image, selection: data.selection };
  const handlers = {}, pending = new Set();
  const model = {
    get: (key) => store[key],
    set: (key, value) => {
      store[key] = value;
      if (key === "selection" && value.image !== store.fields_image) { // what Python would send
        store.fields_image = value.image; store.fields = fields[value.image]; pending.add("change:fields");
      }
    },
    on: (event, f) => { (handlers[event] = handlers[event] || []).push(f); },
    save_changes: () => {
      const events = [...pending]; pending.clear();
      for (const e of events) for (const f of handlers[e] || []) f();
    },
  };
  render({ model, el: root });
}
