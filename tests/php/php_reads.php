<?php
// Reads one JSON object per line from stdin: {"kind": "query"|"json", "text": "..."}.
// Writes one JSON line per input: {"ok": true, "value": ...} or {"ok": false}.
// "query" is PHP's parse_str (how $_GET / $_POST are built); "json" is json_decode($text, TRUE) as CiviCRM
// and EspoCRM call it. Arrays are written as objects (JSON_FORCE_OBJECT) so keys and order survive.
while (($line = fgets(STDIN)) !== FALSE) {
  $input = json_decode($line, TRUE);
  if ($input['kind'] === 'query') {
    $out = [];
    parse_str($input['text'], $out);
    $result = ['ok' => TRUE, 'value' => $out];
  }
  else {
    $value = json_decode($input['text'], TRUE);
    $result = json_last_error() === JSON_ERROR_NONE ? ['ok' => TRUE, 'value' => $value] : ['ok' => FALSE];
  }
  $flags = JSON_FORCE_OBJECT | JSON_PRESERVE_ZERO_FRACTION | JSON_INVALID_UTF8_SUBSTITUTE;
  $encoded = json_encode($result, $flags);
  echo ($encoded === FALSE ? '{"ok": false, "unencodable": true}' : $encoded), "\n";
}
