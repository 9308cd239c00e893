package deploy_test

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/hookd-dev/hookd/deploy"
)

// Actions come from the configuration file; Validate checks them, templates
// included, before anything runs, and Match says which fire for an event.
func Example() {
	const config = `
- name: redeploy-prod
  on: {repo: "acme/models", artifact: "churn-*", event: [assignment], stage: prod, version: ">=1.0.0"}
  exec: {command: ["./deploy.sh", "{{.Artifact}}", "{{.Version}}"], timeout: 10m}
- name: announce
  on: {event: [assignment, unassignment]}
  http: {url: "https://chat.example/hooks/{{urlpath .Stage}}", signing_secret: "s3cret"}
- name: broken
  exec: {command: ["notify", "{{.Verison}}"]}
`
	var actions []deploy.Action
	if err := yaml.Unmarshal([]byte(config), &actions); err != nil {
		panic(err)
	}
	for _, p := range deploy.Validate(actions) {
		fmt.Println(p.Path, p.Message)
	}

	engine, err := deploy.NewEngine(actions[:2], nil, deploy.Options{})
	if err != nil {
		panic(err)
	}
	event := deploy.SampleEvent // churn-model v1.2.3 assigned to prod in acme/models
	fmt.Println(engine.Match(&event))
	// Output:
	// [actions 2 exec command 1] action "broken": exec.command[1]: 1:2: <.Verison>: can't evaluate field Verison in type *deploy.Context
	// [redeploy-prod announce]
}
