{{/*
Helpers of the monitoring templates (monitoring-configmap.yaml, monitoring-prometheusrule.yaml).
*/}}

{{/* Names of the monitoring objects. */}}
{{- define "asi.dashboard.name" -}}{{ include "asi.fullname" . }}-dashboard{{- end }}
{{- define "asi.prometheusRule.name" -}}{{ include "asi.fullname" . }}{{- end }}

{{/*
Seconds of a Go duration string ("2m", "1h30m", "90s", "1.5h"), as a float: the
schema admits exactly these (units ns, us, µs, ms, s, m, h), so every part is
summed. "ms" is tried before "m" and "s" in the alternation.
*/}}
{{- define "asi.durationSeconds" -}}
{{- $total := 0.0 }}
{{- $scale := dict "ns" 1e-9 "us" 1e-6 "µs" 1e-6 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 }}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" . -1 }}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" . }}
{{- $total = addf $total (mulf (float64 $num) (get $scale (trimPrefix $num .))) }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
The window and the "for" of AWSSecretsInjectorRefreshFailing, in whole seconds,
from mounter.refreshInterval (I): a volume whose refreshes keep failing is
retried every I/4 or at the kubelet's next republish (about a minute), so a
window of max(1.5 I, 3m) always holds one of its failures; "for" is
max(2 I, window + 1m), so one failure alone (true for less than a window)
never fires and two intervals without a good refresh always do.
*/}}
{{- define "asi.refreshFailing.window" -}}
{{- $i := include "asi.durationSeconds" .Values.mounter.refreshInterval | float64 }}
{{- maxf (mulf $i 1.5) 180.0 | ceil | int }}
{{- end }}
{{- define "asi.refreshFailing.for" -}}
{{- $i := include "asi.durationSeconds" .Values.mounter.refreshInterval | float64 }}
{{- $w := include "asi.refreshFailing.window" . | float64 }}
{{- maxf (mulf $i 2.0) (addf $w 60.0) | ceil | int }}
{{- end }}
