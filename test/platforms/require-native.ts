// Preloaded (node --import) by scripts/test-platforms.sh before a unit test that would otherwise
// fall back to the WebAssembly core: fails unless the native addon loads.
import { loadCore, loadNative } from '../../ts/core/native.js';

loadNative();
if (loadCore().kind !== 'native') throw new Error(`core is ${loadCore().kind}, not native`);
