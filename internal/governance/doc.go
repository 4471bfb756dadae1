// Package governance produces what the controller answers for: the record of processing
// activities (GDPR Art. 30), built from the purposes, the processor register and the way Tillit
// keeps data. It reads the catalogue and the register only; no personal data goes into it.
package governance
