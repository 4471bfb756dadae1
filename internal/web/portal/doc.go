// Package portal serves Tillit's public privacy portal: pages for the people whose data Tillit
// holds, with no staff login.
//
// Invariants:
//   - Templates are embedded html/template files, parsed once at start-up, one typed view struct
//     per page; policy Markdown is rendered with raw HTML left out (goldmark's default), so a
//     policy body cannot inject script into the portal.
//   - Pages never show personal data of anyone but the visitor, and /p/privacy shows none at all.
//   - Every page's Content-Security-Policy keeps frame-ancestors 'none' (no page is framed).
//   - The public forms that write (/p/subscribe, /p/requests, /p/dpa) are limited per client
//     address by a Limiter, whose memory is bounded and forgets passed windows.
package portal
