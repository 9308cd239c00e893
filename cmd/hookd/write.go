package main

import "github.com/spf13/cobra"

func (a *app) addWriteCommands(root *cobra.Command) {}
