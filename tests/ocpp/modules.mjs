// modules.mjs: the npm OCPP clients the tests drive (ocpp-rpc,
// @voltbras/ts-ocpp), from the node_modules EV_OCPP_GW's build fills
// (<build>/ocpp-npm, npm ci of tests/ocpp/package-lock.json).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

import { BUILD_DIR, REPO_DIR } from '../web/lib/system.mjs';

function ocppModules() {
  const dirs = [process.env.EVC_OCPP_NODE_MODULES, path.join(BUILD_DIR, 'ocpp-npm', 'node_modules'),
    path.join(REPO_DIR, 'tests', 'ocpp', 'node_modules')].filter(Boolean);
  for (const d of dirs) {
    if (fs.existsSync(path.join(d, 'ocpp-rpc', 'package.json')))
      return createRequire(path.join(path.resolve(d), 'noop.js'));
  }
  throw new Error(`ocpp-rpc not found in ${dirs.join(', ')}: build EV_OCPP_GW ` +
    '(its build runs npm ci into build/ocpp-npm)');
}

/** require() resolving in the OCPP test modules. */
export const requireOcpp = ocppModules();
