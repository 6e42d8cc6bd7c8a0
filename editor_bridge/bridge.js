// The page side of editor_bridge: injected at document creation into the main world, after
// qwebchannel.js. Python calls window.__ryvenComfy.call(id, name, args); every handler may be
// async, and its result (or error) goes back through the QWebChannel object "ryvenComfy"
// (runJavaScript alone cannot await a Promise). Touches only the small, measured surface of
// the frontend (see comfyui-frontend.md): app.graph.serialize, app.graphToPrompt,
// app.loadGraphData, app.loadApiJson, the workflow store, graphChanged.
(function () {
  'use strict';
  if (window.__ryvenComfy) return;
  var bridge = null;
  var queued = [];
  var state = { muted: 0, changes: 0 };

  function post(kind, args) {
    if (bridge) bridge[kind].apply(bridge, args);
    else queued.push([kind, args]);
  }

  function connect() {
    if (typeof qt === 'undefined' || !qt.webChannelTransport || typeof QWebChannel === 'undefined') {
      setTimeout(connect, 10);
      return;
    }
    new QWebChannel(qt.webChannelTransport, function (channel) {
      bridge = channel.objects.ryvenComfy;
      queued.splice(0).forEach(function (q) { bridge[q[0]].apply(bridge, q[1]); });
    });
  }
  connect();

  function store() { return app.extensionManager.workflow; }

  function isReady() {
    var a = window.app;
    return !!(a && a.graph && a.api && a.extensionManager && a.extensionManager.workflow &&
              a.extensionManager.workflow.activeWorkflow);
  }

  function status() {
    return {
      ready: isReady(),
      version: window.__COMFYUI_FRONTEND_VERSION__ || null,
      comfy: !!(document.getElementById('vue-app') || window.comfyAPI || window.app),
      title: document.title || ''
    };
  }

  // After programmatic edits the change tracker must be told (checkState is deprecated in
  // 1.58 in favour of captureCanvasState): feature-detect both.
  function captureState() {
    var wf = store().activeWorkflow;
    var t = wf && wf.changeTracker;
    if (!t) return;
    if (typeof t.captureCanvasState === 'function') t.captureCanvasState();
    else if (typeof t.checkState === 'function') t.checkState();
  }

  var listening = false;
  function listen() {
    if (listening) return;
    listening = true;
    app.api.addEventListener('graphChanged', function () {
      if (state.muted) return;
      state.changes += 1;
      post('changed', [state.changes]);
    });
  }

  function nodeTypes(wf) {
    var out = [];
    var subgraphIds = {};
    var defs = (wf.definitions && wf.definitions.subgraphs) || [];
    defs.forEach(function (s) { subgraphIds[s.id] = true; });
    var groups = (wf.extra && wf.extra.groupNodes) || {};
    function add(nodes) {
      (nodes || []).forEach(function (n) {
        var t = n && n.type;
        if (!t || subgraphIds[t]) return;
        if (t.indexOf('workflow>') === 0 || t.indexOf('workflow/') === 0) {
          if (groups[t.slice(9)]) return;   // a group node defined inside the workflow itself
        }
        out.push(t);
      });
    }
    add(wf.nodes);
    defs.forEach(function (s) { add(s.nodes); });
    return out;
  }

  function missingTypes(types) {
    var known = (window.LiteGraph && LiteGraph.registered_node_types) || {};
    var seen = {};
    return types.filter(function (t) {
      if (known[t] || seen[t]) return false;
      seen[t] = true;
      return true;
    });
  }

  function rootNodeCount() { return (app.graph.nodes || app.graph._nodes || []).length; }

  async function quietly(work) {
    state.muted += 1;
    try {
      var r = await work();
      captureState();   // the loaded graph becomes the tracker's baseline
      await new Promise(function (res) { setTimeout(res, 0); });
      return r;
    } finally {
      state.muted -= 1;
    }
  }

  // A temporary tab takes the node's name; a name another tab holds already is left alone.
  async function nameTab(tab, name, warnings) {
    var s = store();
    var path = 'workflows/' + name + '.json';
    if (tab.path === path || s.getWorkflowByPath(path)) return;
    try { await s.renameWorkflow(tab, path); }
    catch (e) { warnings.push('tab not renamed: ' + ((e && e.message) || e)); }
  }

  async function loadInto(wf, name) {
    var active = store().activeWorkflow;
    var warnings = [];
    if (active && active.isTemporary) {
      await app.loadGraphData(wf, true, true, active);
      await nameTab(active, name, warnings);
    } else {
      // never rename (move on the server) a workflow the user saved: a new tab instead
      await app.loadGraphData(wf, true, true, name);
    }
    return warnings;
  }

  // 1.32's loadApiJson opens its tab without awaiting it (1.58's awaits): let the store's
  // pending work run until the active tab is another one. Bounded: a saved workflow of that name
  // that is active already stays active.
  async function tabSwitched(previous) {
    for (var i = 0; i < 50; i++) {
      var now = store().activeWorkflow;
      if (!previous || (now && now.path !== previous.path)) return;
      await new Promise(function (res) { setTimeout(res, i < 5 ? 0 : 20); });
    }
  }

  var handlers = {
    status: status,

    // A UI workflow into the active tab, named after the node. Unknown node types are refused
    // before anything changes; a graph the frontend does not take is rolled back.
    push: async function (wf, name) {
      listen();
      var missing = missingTypes(nodeTypes(wf));
      if (missing.length) return { ok: false, missing: missing };
      var before = app.graph.serialize();
      var expected = (wf.nodes || []).length;
      return quietly(async function () {
        var warnings;
        try {
          warnings = await loadInto(wf, name);
        } catch (e) {
          await app.loadGraphData(before, true, true, store().activeWorkflow);
          return { ok: false, refused: String((e && e.message) || e) };
        }
        var got = rootNodeCount();
        if (got !== expected) {
          await app.loadGraphData(before, true, true, store().activeWorkflow);
          return { ok: false, refused: 'the web UI loaded ' + got + ' of ' + expected + ' nodes' };
        }
        return { ok: true, warnings: warnings, path: store().activeWorkflow.path };
      });
    },

    // An API prompt: loadApiJson builds its graph (laid out, ids kept) but always in a new tab;
    // markers {node id: marker} are set on it, then the graph goes into the tab that was active
    // (a temporary one: the page's first "Unsaved Workflow" or the node's tab of an earlier
    // push) and the new tab is closed, so that a push replaces the node's tab as a UI one does.
    pushApi: async function (prompt, name, markers) {
      listen();
      var types = Object.keys(prompt).map(function (k) { return prompt[k] && prompt[k].class_type; });
      var missing = missingTypes(types.filter(Boolean));
      if (missing.length) return { ok: false, missing: missing };
      return quietly(async function () {
        var s = store();
        var previous = s.activeWorkflow;
        try {
          await app.loadApiJson(prompt, name + '.json');
          await tabSwitched(previous);
        } catch (e) {
          return { ok: false, refused: String((e && e.message) || e) };
        }
        Object.keys(markers || {}).forEach(function (id) {
          var node = app.graph.getNodeById(Number(id)) || app.graph.getNodeById(id);
          if (node) { node.properties = node.properties || {}; node.properties.ryven_comfy = markers[id]; }
        });
        var opened = s.activeWorkflow;
        var warnings = [];
        if (previous && previous.isTemporary && opened && opened.path !== previous.path) {
          await app.loadGraphData(app.graph.serialize(), true, true, previous);
          await s.closeWorkflow(opened);   // the store's close: no "save changes?" dialog
          await nameTab(previous, name, warnings);
        }
        return { ok: true, warnings: warnings, path: s.activeWorkflow.path };
      });
    },

    // The UI workflow and the API prompt of what the web UI shows now.
    pull: async function () {
      var workflow = app.graph.serialize();
      var prompt = await app.graphToPrompt();
      var version = window.__COMFYUI_FRONTEND_VERSION__ || null;
      // serialize() does not say which frontend made it (graphToPrompt's copy does): without it
      // a converter must assume an old frontend's rules for the widget inputs it lists
      workflow.extra = workflow.extra || {};
      if (version && !workflow.extra.frontendVersion) workflow.extra.frontendVersion = version;
      return { workflow: workflow, output: prompt.output, version: version };
    },

    // The server's node definitions as the page sees them (the page fetches them itself).
    objectInfo: async function () { return app.api.getNodeDefs(); },

    // For tests and tools: evaluate an async function body with app in scope.
    run: async function (body) {
      var fn = new Function('app', 'captureState', 'return (async () => {' + body + '})()');
      return fn(window.app, captureState);
    }
  };

  window.__ryvenComfy = {
    status: status,
    call: function (id, name, args) {
      Promise.resolve()
        .then(function () {
          var h = handlers[name];
          if (!h) throw new Error('no bridge function ' + name);
          return h.apply(null, args || []);
        })
        .then(function (r) { post('resolve', [id, true, JSON.stringify(r === undefined ? null : r)]); },
              function (e) { post('resolve', [id, false, String((e && (e.stack || e.message)) || e)]); });
      return id;
    }
  };
})();
