// The entry of the one-file build (Node's single executable applications take one CommonJS
// script, without top-level await): the same main as bin/kvmkit, which reports every error itself.
import { main } from './main.js';

void main(process.argv);
